"""The HTML forms of a page, read generically (hidden values kept), for the relying-party tests
that play the browser at Ostiary's login and consent pages."""
from html.parser import HTMLParser


class Forms(HTMLParser):
    """Collects forms: action, method, inputs (hidden values kept) and submit buttons."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                               "inputs": {}, "buttons": [], "password": False})
        elif tag in ("input", "button") and self.forms:
            f = self.forms[-1]
            if tag == "input" and a.get("type") == "password":
                f["password"] = True
            if tag == "button" or a.get("type") == "submit":
                if a.get("name"):
                    f["buttons"].append((a["name"], a.get("value", "")))
            elif a.get("name"):
                f["inputs"][a["name"]] = a.get("value", "")


def forms(html):
    p = Forms()
    p.feed(html)
    return p.forms
