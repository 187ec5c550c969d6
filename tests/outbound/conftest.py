import pytest

from tests.outbound.receivers import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def other_receiver():
    r = Receiver()
    yield r
    r.stop()
