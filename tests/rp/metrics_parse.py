"""Parses a Prometheus text exposition (stdin) with prometheus_client's own parser, which
raises on anything malformed, and prints the samples as JSON:
{"family": {"sample_name{label=value,...}": value}}."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    samples = out.setdefault(family.name, {})
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        samples[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
