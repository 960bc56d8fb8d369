"""COSEM application layer under CPython and the MicroPython unix port (scenarios in
tests_host/scenarios/sc_cosem.py): the captured HLS exchange reproduced, levels and access
rights, data-access-results and exceptions, block transfer, selective access by entry,
ciphering (replay, bad tag, plaintext refused), lockout across a power cut, reads leave the
FRAM image identical, and the bench figures."""

import os

from mpy import run_scenario

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "dlms_vectors.json")


def test_captured_hls_exchange_is_reproduced_byte_for_byte(interp):
    # dlms.md §7 / session s5, same StoC, server title and own IC (1 for the AARE, 2 for
    # f(CtoS)). The reference meter then ciphered the ACTION reply with IC 2 again (GCM
    # nonce reuse); this meter uses its next IC (3), so only the plain reply is compared.
    r = run_scenario(interp, "sc_cosem", "hls_capture_replay", VECTORS)
    assert r["aare_401e5d"] == r["captured_aare"]
    assert r["initiate_401e5d"] == "0800065f1f040040125d04000007"
    assert r["action_plain"] == r["captured_action_plain"]
    assert r["action_ic"] == 3 and r["get_ic"] == 4
    assert r["get_plain_head"] == "c401c100090c"  # the clock, as an octet-string(12)
    assert r["replay"] == "d8010600000004"  # IC 3 again: invocation-counter-error, next 4
    # With the meter's own conformance (0x40121D) only the negotiated block differs.
    assert r["initiate_40121d"] == "0800065f1f040040121d04000007"
    assert r["aare_40121d"][:150] == r["captured_aare"][:150]


def test_services_levels_and_results(interp):
    r = run_scenario(interp, "sc_cosem", "services_and_access")
    assert r["no_assoc"] == "d80101"  # no association: service-not-allowed
    assert r["aare_public"] == (
        "6129a109060760857405080101a203020100a305a103020100be10040e0800065f1f040040121d04000007"
    )
    assert r["clock_public"] == "data"
    assert r["ai_value"] == "0600000000"
    assert r["ai_scaler"] == "02020f00161e"  # scaler 0, unit 30 (Wh)
    assert r["hh_public"] == "data"  # the public client reads the HH profile (issue 5)
    assert (r["undefined"], r["class_mismatch"], r["no_attr"]) == (4, 9, 11)
    assert r["set_public"] == "c501c103"  # read-write-denied
    assert r["next_without"] == "c402c101000000010110"  # no-long-get-in-progress
    assert r["malformed"] == "d80203"
    assert r["unknown_service"] == "d80202"
    assert r["plain_glo"] == "d80102"  # ciphered APDU in a plain association
    # with-list [1-0:1.8.0 attr 2, HH profile attr 7 (entries in use)]: both readable by the
    # public client: 0 Wh on this fresh meter and 60 entries.
    assert r["with_list_public"] == "c403c10200060000000000060000003c"
    assert r["aare_bad_pw"] == "6117a109060760857405080101a203020101a305a10302010d"
    assert r["aare_reader"] == r["aare_public"]
    assert r["with_list_reader"] == "c403c10200060000000000060000003c"  # AI 0, 60 entries
    assert r["hh_rows"] == 60 and r["hh_blocks"] == 3
    assert r["hh_entries"] == "060000003c"
    # entries 2..3, columns 3..4 (AI, AE) of the rows fed as (100 + k, k)
    assert r["by_entry"] == [[2, [[6, 101], [6, 1]]], [2, [[6, 102], [6, 2]]]]
    assert r["set_reader"] == "c501c103"
    assert r["action_reader"] == "c701c10300"
    assert r["rlre"] == "6303800100"
    assert r["after_release"] == "d80101"
    assert r["hls_action"] == "c701c0000100"  # reply_to_HLS: success with f(CtoS)
    assert r["set_mpan_operator"] == "c501c103"  # identity belongs to the config level
    assert r["shift_operator"] == "c701c10000"  # shift_time +5 s applied
    assert r["plain_in_ciphered"] == "d80105"
    assert r["replay"] == "d80106"
    assert r["bad_tag"] == "d80105"
    assert r["set_mpan_config"] == "c501c100"
    assert r["mpan_now"] == "090d31323334353637383930313233"
    assert r["wrong_keys"] == "6117a109060760857405080103a203020101a305a10302010d"
    assert r["security_log"] == [
        0x8F30,  # public SET denied (logged once per association)
        0x8F3E,  # wrong LLS password
        0x8F30,  # reader SET denied
        0x8F30,  # operator SET of the MPAN denied
        0x8F1E,  # plaintext in a ciphered association
        0x8F60,  # replayed IC
        0x8F1E,  # flipped tag bit
        0x8F1E,  # AARQ ciphered with the wrong key set
        0x8F3E,  # ... counted as a failed authentication
    ]
    assert r["event_log_tail"] == [0x8145, 0xF010, 0xF011, 0xF041]
    assert r["internal_errors"] == 0


def test_lockout_and_counters_survive_a_power_cut(interp):
    r = run_scenario(interp, "sc_cosem", "lockout_survives_power_cut")
    assert r["fails"] == "6117a109060760857405080101a203020101a305a10302010d"
    assert r["locked"] is True
    # locked: rejected-transient, authentication-failure, even with the right password
    assert r["right_pw_while_locked"] == "6117a109060760857405080101a203020102a305a10302010d"
    assert r["locked_after_reboot"] is True
    assert r["right_pw_after_reboot"] == r["right_pw_while_locked"]
    assert r["first_own_ic"] == 1
    assert r["own_ic_after_reboot"] == 65  # resumes above the reserved block (1 + 64)
    assert r["old_ic_after_reboot"] == "6117a109060760857405080103a203020101a305a10302010d"
    assert r["security_log"] == [0x8F3E] * 5 + [0xF040] + [0x8F3E] * 2 + [0x8F60, 0x8F3E]


def test_reading_everything_at_every_level_leaves_fram_identical(interp):
    r = run_scenario(interp, "sc_cosem", "read_everything_leaves_fram_identical")
    assert r["reads"] == 636  # every attribute of every object, at each of the 4 levels
    assert r["readable"] == {
        "16": 54,  # includes the HH profile objects (public read, issue 5)
        # + 4 SMETS2-style channel logs x 9 attributes from the reader level up
        "17": 147,
        "unciphered_identical": True,  # public + LLS: the whole image, byte for byte
        "1": 152,
        "2": 157,
    }
    assert r["identical_except_seccount"] is True  # HLS: only accepted/own ICs moved
    assert r["internal_errors"] == 0


def test_bench_figures(interp):
    r = run_scenario(interp, "sc_cosem", "measure")
    assert r["profile_rows"] == 960 and r["profile_blocks"] == 37
    if interp == "micropython":
        assert 0 < r["assoc_heap_bytes"] < 8192
    print(interp, r)


def test_uart_task_answers_snrm_and_aarq(interp):
    r = run_scenario(interp, "sc_cosem", "uart_session")
    ua = "7ea01e210373c37a818012050180060180070400000001080400000001533b7e"  # dlms.md §10
    assert r["tx"].startswith(ua)
    assert r["tx"][len(ua) :].startswith(
        "7ea0372103306c7ce6e7006129a109060760857405080101a2030201"
    )
    assert r["associations"] == 1 and r["errors"] == 0 and r["overruns"] == 0


def test_smets2_channel_logs_keep_13_and_3_months(interp):
    # 5000 closed half hours (104 days; the 5001st is open): the 4-channel ring keeps 4464
    # (93 days), the import log keeps them all (its history is 19056 periods, 397 days).
    # Values fed for period k: import 100 + k, export k, reactive 7 and 3 Wh/varh.
    r = run_scenario(interp, "sc_cosem", "smets_channel_logs", 5000)
    assert r["import"] == {
        "kind": "data",
        "rows": 5000,
        "columns": 3,
        "first_value": 100,
        "last_value": 5099,
        "entries": 5000,
    }
    kept = r["newest"] - r["oldest4"] + 1
    assert kept == 4464
    assert r["export"] == {
        "kind": "data",
        "rows": kept,
        "columns": 3,
        "first_value": 5000 - kept,
        "last_value": 4999,
        "entries": kept,
    }
    assert r["rimport"]["rows"] == kept and r["rimport"]["first_value"] == 7
    assert r["rexport"]["rows"] == kept and r["rexport"]["last_value"] == 3


# Security Log codes (firmware/cosem/security.py)
INTEGRITY = 0x8F1E
UNAUTHORISED = 0x8F3E
LACKS_AUTHORITY = 0x8F30
LOCKOUT = 0xF040
CREDENTIALS_UPDATED = 0x8F70
DATA_CHANGED = 0xF041  # Event Log


def test_service_specific_glo_requests_get_the_same_form_back(interp):
    # IEC 62056-5-3 / dlms.md §6: C8 -> CC, C9 -> CD, CB -> CF, SC 0x30, the meter's next
    # own IC (AARE 1, f(CtoS) 2, then one per reply); the decrypted replies are exact.
    r = run_scenario(interp, "sc_cosem", "glo_service_forms")
    assert r["hls_cb"] == [0xCF, 0x30, 3, "c701c0000100"]  # reply_to_HLS sent as CB (Gurux)
    # clock 2024-01-01 (Monday) 12:00:00, deviation 0x8000, status 0
    assert r["get_cc"] == [0xCC, 0x30, 4, "c401c100090c07e80101010c000000800000"]
    assert r["get_ai_cc"] == [0xCC, 0x30, 5, "c401c10002020f00161e"]
    assert r["action_cf"] == [0xCF, 0x30, 6, "c701c10000"]  # shift_time +5 s applied
    assert r["set_cd_operator"] == [0xCD, 0x30, 7, "c501c103"]  # MPAN: config level only
    # glo-get around a SET, glo-set around a GET, SC 0x10, ded-get/set/action (D0/D1/D3:
    # no dedicated key here), general-ded-ciphering (DC), general-ciphering (DD): each is
    # exception-response deciphering-error and one 0x8F1E entry.
    assert r["refused"] == {
        "c8_with_set": "d80105",
        "c9_with_get": "d80105",
        "c8_sc10": "d80105",
        "ded_d0": "d80105",
        "ded_d1": "d80105",
        "ded_d3": "d80105",
        "general_ded_dc": "d80105",
        "general_dd": "d80105",
    }
    assert r["refused_logged"] == [INTEGRITY] * 8
    assert r["after"] == [0xCC, 0x30, 8, "c401c10002020f00161e"]  # the association holds
    assert r["config_hls_db"] == 0xDB  # general-glo request -> general-glo reply
    assert r["set_cd"] == [0xCD, 0x30, 4, "c501c100"]
    assert r["mpan_cc"] == [0xCC, 0x30, 5, "c401c1000903616263"]
    # Any protected APDU in a plain association: service-not-allowed, service-not-supported.
    assert r["in_public"] == {
        t: "d80102" for t in ("c8", "c9", "cb", "d0", "d1", "d3", "db", "dc", "dd")
    }
    assert r["internal_errors"] == 0


def test_hls_lockout_per_client_survives_a_power_cut(interp):
    r = run_scenario(interp, "sc_cosem", "hls_lockout")
    rejected = "6117a109060760857405080103a203020101a305a10302010d"  # permanent, auth failure
    locked = "6117a109060760857405080103a203020102a305a10302010d"  # transient, auth failure
    assert r["c1_fail"] == [rejected] * 3  # AARQ ciphered with the other key set
    assert r["c1_stoc"] == [["c701c0fa00", True]] * 2  # wrong f(StoC): refused, dropped
    assert r["c1_counts"] == [3, 4, 0]  # the fifth failure locks and restarts the count
    assert r["c1_locked"] is True
    assert r["c1_right_while_locked"] == locked
    assert r["c1_peer_ic_unchanged"] is True  # a locked SAP's AARQ is not even deciphered
    assert r["c2_unaffected"] == "c701c0000100"  # reply_to_HLS success for client 2
    assert r["c17_unaffected"] == "6129a109060760857405080101a203020100a305"
    assert r["c2_success_clears"] == ["c701c0000100", 0]  # 4 failures, then success: 0
    assert r["c2_counts"] == [1, 2, 3, 4, 1, 2, 3, 4, 0]
    assert r["c2_locked"] is True
    assert r["c2_right_while_locked"] == locked
    # Every failure logged with its SAP: wrong keys = 0x8F1E (deciphering) + 0x8F3E, wrong
    # f(StoC) = 0x8F3E; the fifth adds 0xF040; a refused attempt while locked 0x8F3E.
    keys = [[INTEGRITY, 1], [UNAUTHORISED, 1]]
    stoc = [[UNAUTHORISED, 1]]
    c1 = keys * 3 + stoc * 2 + [[LOCKOUT, 1]] + stoc
    keys2 = [[INTEGRITY, 2], [UNAUTHORISED, 2]]
    stoc2 = [[UNAUTHORISED, 2]]
    c2 = (keys2 + stoc2) * 2 + (keys2 + stoc2) * 2 + keys2 + [[LOCKOUT, 2]] + stoc2
    assert r["log"] == c1 + c2
    assert r["after_cut"] == {
        "locked": [True, True],
        "failures": [0, 0],
        "c1_right": locked,
        "c2_right": locked,
    }
    assert r["at_899s"] == [True, locked]
    assert r["at_900s"] == [False, "c701c0000100", "c701c0000100"]  # lock end = start + 900 s
    assert r["log_after_cut"] == [[UNAUTHORISED, 1], [UNAUTHORISED, 2], [UNAUTHORISED, 1]]
    assert r["internal_errors"] == 0


def test_key_transfer_end_to_end(interp):
    r = run_scenario(interp, "sc_cosem", "key_transfer")
    assert r["operator_before"] == "c701c0000100"
    # A failed unwrap (wrong master key, altered blob, or one bad key among good ones):
    # action-result other-reason, 0x8F1E with the SAP, and only the client IC and the
    # Security Log moved; the keys in force are unchanged.
    assert r["unwrap_refused"] == {
        k: "c701c1fa00" for k in ("wrong_kek", "tampered", "tampered_2nd")
    }
    assert r["unwrap_refused_log"] == [[INTEGRITY, 2]] * 3
    assert r["unwrap_refused_changed"] == ["log_security", "seccount"]
    assert r["keys_unchanged"] is True
    assert r["malformed"] == {
        "not_array": "c701c10c00",  # type-unmatched
        "empty": "c701c10c00",
        "broadcast": "c701c10b00",  # object-unavailable: no broadcast key on this meter
        "key_id_4": "c701c10c00",
        "twice": "c701c10c00",
        "short": "c701c10c00",
        "unsigned_id": "c701c10c00",
    }
    assert r["malformed_log"] == []
    assert r["operator_denied"] == "c701c10300"  # read-write-denied: config level only
    assert r["operator_denied_log"] == [[LACKS_AUTHORITY, 1]]
    assert r["operator_peer_ic"] == 602
    # Client 2 changes key set 0 (EK + AK): success; 0x8F70 value = key set 0 << 8 | ids
    # 0 and 2; CoP 10 data-changed in the Event Log; the new set is in the "keys" record.
    assert r["transfer_ks0"] == "c701c10000"
    assert r["transfer_ks0_log"] == [[CREDENTIALS_UPDATED, 0x005]]
    assert r["transfer_ks0_event"] == [[DATA_CHANGED, 2]]
    assert r["transfer_ks0_changed"] == ["keys", "log_event", "log_security", "seccount"]
    assert r["peer_ic_after"] == [0, 13]  # key set 0's client IC reset; key set 1 untouched
    assert r["old_operator_session"] == "d80105"  # the open operator session is cut off
    assert r["old_keys"] == "0d"  # AARQ with the old keys: authentication failure
    assert r["new_keys_ic1"] == "c701c0000100"  # new keys, client IC starting again at 1
    assert r["new_keys_replay"] == "0d"  # the same IC again is a replay
    # Client 2 changes its own key set (EK, AK, master key): the reply comes under the keys
    # of the request; from the next APDU on only the new keys work.
    assert r["transfer_ks1"] == "c701c10000"
    assert r["transfer_ks1_log"] == [[CREDENTIALS_UPDATED, 0x10D]]  # set 1, ids 0, 2, 3
    assert r["same_session_old_keys"] == "d80105"
    assert r["same_session_new_keys"] == "c401c10002020f00161e"
    assert r["old_kek"] == "c701c1fa00"  # wrapped under the replaced master key
    assert r["new_kek"] == "c701c10000"
    assert r["kek_log"] == [[INTEGRITY, 2], [CREDENTIALS_UPDATED, 0x104]]
    assert r["same_again"] == "c701c10000"  # the key in force again: nothing to write
    assert r["same_again_changed"] == ["seccount"]
    assert r["config_old_keys"] == "0d"
    assert r["config_new_keys"] == "c701c0000100"
    assert r["internal_errors"] == 0
    # Rebuilt over the same FRAM (power cut): the new keys hold, the old ones are refused.
    rec = "01" + "00" * 15  # version 1, no IC reset pending
    rec += "2b7e151628aed2a6abf7158809cf4f3c" + "6bc1bee22e409f96e93d7e117393172a"
    rec += "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"  # key set 0: new EK, new AK, default KEK
    rec += "ae2d8a571e03ac9c9eb76fac45af8e51" + "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
    rec += "f69f2445df4f9b17ad2b417be66c3710"  # key set 1: new EK, AK back, new KEK
    assert r["rebuilt"] == {
        "ks0_old": "0d",
        "ks0_new": "c701c0000100",
        "ks1_old": "0d",
        "ks1_new": "c701c0000100",
        "keys_record": rec,
        "internal_errors": 0,
    }


def test_key_transfer_is_power_cut_safe(interp):
    # A cut after every byte the meter writes while handling the key_transfer (client IC,
    # "keys" record, IC reset, Security/Event Log entries, own IC reservation).
    r = run_scenario(interp, "sc_cosem", "key_transfer_power_cut", 1)
    assert r["total_bytes"] == 292
    assert r["reply"] == "c701c10000"
    assert r["bad"] == []  # never a mix, never the new keys with the old IC mark
    assert r["outcomes"] == {"old": 128, "new": 165}  # 293 cut points


def test_a_new_object_plugs_in_without_touching_the_codec(interp):
    # A Disconnect control declared in the test (class 70), added to the server's table.
    r = run_scenario(interp, "sc_cosem", "plugged_in_object")
    assert r["public_get"] == ["03ff", "1601"]  # output_state true, control_state 1
    assert r["public_action"] == "c701c10300"  # action-response: read-write-denied
    assert r["public_listed"] is True  # in the Association LN object list
    assert r["operator_action"] == "c701c10000"  # success, under HLS as client 1
    assert r["after"] == "0300" and r["calls"] == [1]  # disconnected, called once
