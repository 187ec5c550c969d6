"""The template filters, registered in one place: templates write money only through these,
which call market.core.money, so every page writes an amount the same way and no template does
money arithmetic."""
from market.core import money


def register_filters(app):
    """`{{ ore | kr }}` → "1 234,50 kr"; `{{ ore | price }}` → "199 kr/mån exkl. moms";
    `{{ ore | kr_input }}` → "49,50", the value a price field takes back;
    `{{ platform_percent | developer_percent }}` → 75, the developer's part of the net."""
    app.add_template_filter(money.format_kr, "kr")
    app.add_template_filter(money.format_price, "price")
    app.add_template_filter(money.format_input, "kr_input")
    app.add_template_filter(money.developer_percent, "developer_percent")
    # `{{ ore | with_moms | kr }}` → the price including the market's moms (VAT_PERCENT).
    app.add_template_filter(lambda ore: money.with_moms(ore, app.config["VAT_PERCENT"]), "with_moms")
    # `{{ when | day }}` → "16 Dec 2026": dates in sentences, the same on every page.
    app.add_template_filter(day, "day")


def day(when):
    """A date as a sentence writes it: "16 Dec 2026" ("" for none)."""
    return f"{when.day} {when:%b %Y}" if when else ""
