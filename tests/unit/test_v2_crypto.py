import pytest

from silverpay.errors import DecryptionError
from silverpay.wechat.v2 import crypto, xml
from tests.vectors import vector


def test_refund_notify_vector_decrypts() -> None:
    v = vector("v2_refund_notify")
    plain = crypto.decrypt_req_info(v["req_info"], v["api_key"])
    assert plain == v["plaintext"]
    fields = xml.decode(plain)
    assert fields["out_refund_no"] == "1234"
    assert fields["refund_status"] == "SUCCESS"


def test_encrypt_is_the_inverse_and_matches_the_vector() -> None:
    v = vector("v2_refund_notify")
    assert crypto.encrypt_req_info(v["plaintext"], v["api_key"]) == v["req_info"]


@pytest.mark.parametrize("req_info", ["not base64!!", "AAAA", ""])
def test_garbage_is_a_decryption_error(req_info: str) -> None:
    with pytest.raises(DecryptionError):
        crypto.decrypt_req_info(req_info, vector("v2_refund_notify")["api_key"])


def test_wrong_key_is_a_decryption_error() -> None:
    v = vector("v2_refund_notify")
    with pytest.raises(DecryptionError):
        crypto.decrypt_req_info(v["req_info"], "0" * 32)
