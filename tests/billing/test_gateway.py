"""market.billing.gateway is the market's one door to Stripe: no other module of the market
or its views imports the stripe library (read from the source, so a lazy import counts)."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _imports_stripe(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "stripe" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "stripe":
            return True
    return False


def test_only_the_gateway_imports_stripe():
    files = [ROOT / "app.py", ROOT / "models.py"]
    for package in ("market", "views"):
        files.extend(sorted((ROOT / package).rglob("*.py")))
    importers = sorted(str(path.relative_to(ROOT)) for path in files if _imports_stripe(path))
    assert importers == ["market/billing/gateway.py"]


def test_the_scan_sees_an_import_inside_a_function(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def later():\n    from stripe import StripeClient\n")
    assert _imports_stripe(probe)
