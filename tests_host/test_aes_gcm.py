"""lib/aes_gcm: NIST GCM vectors, DLMS Green Book KATs and the captured HLS/ciphered APDUs."""

import json
import os

from mpy import run_scenario

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "dlms_vectors.json")


def test_nist_and_green_book_vectors(interp):
    r = run_scenario(interp, "sc_dlms_codec", "gcm_kats")
    # McGrew & Viega "The Galois/Counter Mode of Operation", test cases 1-4 (AES-128).
    assert r["tc1"] == "58e2fccefa7e3061367f1d57a4e7455a"
    assert r["tc2"] == ["0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"]
    tc3_ct = (
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
    )
    assert r["tc3"] == [tc3_ct, "4d5c2af327cd64a62cf35abd2ba6fab4"]
    assert r["tc4"] == [tc3_ct[:120], "5bc94fbc3221a5db94fae95ae7121a47"]
    assert r["tc4_decrypt_ok"] is True
    assert r["tc4_tamper"] == "AuthError"
    assert r["tc4_truncated_tag"] == "5bc94fbc3221a5db94fae95a"
    # DLMS Green Book suite 0 KAT (reliability.md §5).
    assert r["gb_encrypt"] == "411312ff935a47566827c467bc" + "7d825c3be4a77c3fcc056b6b"
    assert r["gb_decrypt"] == "c0010000080000010000ff0200"
    # Auth-only keeps the plaintext and appends GMAC over SC || AK || plaintext.
    assert r["gb_auth_only"] == "c0010000080000010000ff0200" + "06725d910f9221d263877516"
    assert r["gb_auth_only_back"] == "c0010000080000010000ff0200"
    assert r["gb_hls"] == "1a52fe7dd3e72748973c1e28"
    # HLS-GMAC values captured with dlms-cosem (dlms.md §7).
    assert r["f_stoc"] == "d3fb0eadc71ebe67ba7371ba"
    assert r["f_ctos"] == "fe6e2f3b6ddbbb5c73c90da0"
    assert r["flips_rejected"] == [200, 200]
    # suite 1 SC, IC -1, IC 2**32, data shorter than the tag
    assert r["bad_args"] == ["ValueError", "ValueError", "ValueError", "ValueError"]
    assert r["long_roundtrip"] is True


def test_captured_ciphered_apdus_decrypt_and_reencrypt(interp):
    got = run_scenario(interp, "sc_dlms_codec", "ciphered_vectors", VECTORS)
    with open(VECTORS) as f:
        sessions = json.load(f)["sessions"]
    expected = []
    for s in sessions:
        for it in s["items"]:
            if "gcm" in it:
                expected.append(
                    (it["gcm"]["ic"], it["gcm"]["system_title"], it.get("plain_apdu"))
                    if "plain_apdu" in it
                    else (it["gcm"]["ic"], it["gcm"]["system_title"], it["user_information_plain"])
                )
    # The ciphered RLRQ of dlms-cosem carries no decode in the JSON: its user-information is an
    # InitiateRequest with IC 10 (dlms.md §5 "RLRQ + glo-initiate-request").
    expected.append((10, "4452534d31323334", "01000000065f1f040040125d0400"))
    assert [(g["ic"], g["title"], g["plain"]) for g in got] == expected
    assert all(g["reencrypt_same"] and g["sc"] == 0x30 for g in got)
    # HLS blobs inside the deciphered ACTION request/response are SC 0x10 || IC || tag.
    assert got[2]["plain"].endswith("1000000002d3fb0eadc71ebe67ba7371ba")
    assert got[3]["plain"].endswith("1000000002fe6e2f3b6ddbbb5c73c90da0")


def test_matches_cryptography_aesgcm():
    """CPython only: the pure-Python GHASH against OpenSSL's AES-GCM on varied lengths."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from lib import aes_gcm

    key = bytes(range(16))
    ref = AESGCM(key)
    g = aes_gcm.AesGcm(key)
    for n in (0, 1, 15, 16, 17, 31, 32, 33, 100, 1000):
        for a in (0, 5, 16, 17, 40):
            iv = bytes((n + a + i) & 0xFF for i in range(12))
            p = bytes((7 * i + n) & 0xFF for i in range(n))
            aad = bytes((3 * i + a) & 0xFF for i in range(a))
            ct, tag = g.encrypt(iv, p, aad)
            assert ct + tag == ref.encrypt(iv, p, aad)
            assert g.decrypt(iv, ct, tag, aad) == p


def test_aes_key_wrap_rfc3394_vectors(interp):
    # RFC 3394 §4.1 (128-bit KEK, 128-bit key), §4.3 (256-bit KEK, 128-bit key), §4.6
    # (256-bit KEK, 256-bit key). §4.2/4.4/4.5 use a 192-bit KEK, which cryptolib on the
    # boards does not offer: refused on every interpreter (first error below).
    r = run_scenario(interp, "sc_cosem", "keywrap_kats")
    assert r["4.1"] == "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"
    assert r["4.3"] == "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7"
    assert r["4.6"] == (
        "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21"
    )
    assert r["4.1_unwrap"] == "00112233445566778899aabbccddeeff"
    assert r["4.6_unwrap"] == "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f"
    assert r["bit_flips_refused"] == 24  # a flipped bit in any of the 24 bytes fails the IV
    # 24-byte KEK, one-block key, 17-byte key, truncated wrapped key, wrong KEK
    assert r["errors"] == ["ValueError"] * 4 + ["UnwrapError"]


def test_aes_key_wrap_matches_cryptography():
    """CPython only: wrap/unwrap against the `cryptography` package's RFC 3394 code."""
    from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

    from lib import aes_keywrap

    for kek_len in (16, 32):
        for n in (16, 24, 32, 40, 64):
            kek = bytes((7 * i + n) & 0xFF for i in range(kek_len))
            key = bytes((13 * i + kek_len) & 0xFF for i in range(n))
            w = aes_keywrap.wrap(kek, key)
            assert w == aes_key_wrap(kek, key)
            assert aes_keywrap.unwrap(kek, w) == key == aes_key_unwrap(kek, w)
