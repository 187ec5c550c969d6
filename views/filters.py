"""The template filters, registered in one place: templates write money and dates only through
these, which call market.core.money and market.core.clock with the reader's language, so every
page writes an amount and a date the same way and no template does money arithmetic."""
from market.core import clock, money
from views.locale import current_language, html_lang


def register_filters(app):
    """`{{ ore | kr }}` → "1 234,50 kr" ("1,234.50 kr" in English);
    `{{ ore | price }}` → "199 kr/mån exkl. moms"; `{{ ore | kr_input }}` → "49,50", the value
    a price field takes back; `{{ platform_percent | developer_percent }}` → 75."""
    app.add_template_filter(kr, "kr")
    app.add_template_filter(lambda ore: money.format_price(ore, current_language()), "price")
    app.add_template_filter(money.format_input, "kr_input")
    app.add_template_filter(money.developer_percent, "developer_percent")
    # `{{ ore | with_moms | kr }}` → the price including the market's moms (VAT_PERCENT).
    app.add_template_filter(lambda ore: money.with_moms(ore, app.config["VAT_PERCENT"]), "with_moms")
    # `{{ when | day }}` → "16 dec. 2026": dates in sentences, the same on every page.
    app.add_template_filter(day, "day")
    # `{{ moment | time }}` → "16 dec. 2026 14:05" on Stockholm's clock; `time_zone` names it.
    app.add_template_filter(time, "time")
    app.add_template_filter(lambda moment: clock.format_time(moment, current_language(), zone=True), "time_zone")


def kr(ore):
    """An amount in the reader's language, for views that write one into a sentence."""
    return money.format_kr(ore, html_lang())


def day(when):
    """A date as a sentence writes it: "16 dec. 2026", "16 Dec 2026" ("" for none)."""
    return clock.format_day(when, html_lang())


def time(moment):
    return clock.format_time(moment, current_language())
