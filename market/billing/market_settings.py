"""The named values billing keeps in models.MarketSetting: the installation id, the Stripe
tax rate made once per moms percent, and which subscriptions a suspension set to cancel."""
from models import MarketSetting


def setting(name):
    row = MarketSetting.get_or_none(MarketSetting.name == name)
    return row.value if row else None


def set_setting(name, value):
    MarketSetting.insert(name=name, value=value).on_conflict(
        conflict_target=[MarketSetting.name], update={MarketSetting.value: value}).execute()


def delete_setting(name):
    MarketSetting.delete().where(MarketSetting.name == name).execute()
