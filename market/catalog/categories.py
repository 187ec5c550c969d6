"""The store's categories in both languages (issue Q 4). A category row keeps its slug and the
name it was made with (Swedish, the market's first language); the names of the known slugs are
messages of the catalogues (translations/sv/catalog.po), so the English interface reads them in
English and the Swedish one in Swedish. A category made later, outside this list, shows its own name."""
from market.core import words

NAMES = {
    "time-tracking": words.marked("Time tracking"),
    "payroll": words.marked("Payroll & HR"),
    "crm": words.marked("CRM & sales"),
    "e-commerce": words.marked("E-commerce & POS"),
    "inventory": words.marked("Inventory"),
    "expenses": words.marked("Expenses & receipts"),
    "project-management": words.marked("Project management"),
    "bank-payments": words.marked("Bank & payments"),
    "reporting": words.marked("Reporting & analysis"),
    "industry": words.marked("Industry solutions"),
}


def name_of(slug, locale):
    """The name of the category `slug` in `locale`; None for a slug outside the list."""
    message = NAMES.get(slug)
    return words.say(locale, message) if message else None


def category_name(category, locale):
    """What a page shows for `category` (a Category row, or None) to a reader of `locale`."""
    if category is None:
        return ""
    return name_of(category.slug, locale) or category.name
