//! Unit tests (inside the crate so they can check the data key's bytes).

use std::path::Path;

use super::*;

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A recognisable, non-random 516-byte template record.
fn template() -> [u8; TEMPLATE_RECORD_LEN] {
    let mut r = [0u8; TEMPLATE_RECORD_LEN];
    for (i, b) in r.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7).wrapping_add(3);
    }
    r[512..].copy_from_slice(&0.0123_f32.to_le_bytes());
    r
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn new_keyring(dir: &Path) -> (std::path::PathBuf, Kek, DataKey) {
    let path = dir.join("keyring.json");
    let kek = Kek::generate().unwrap();
    let dek = Keyring::create(&path, &kek).unwrap();
    (path, kek, dek)
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn sizes() {
    assert_eq!(SEALED_TEMPLATE_RECORD_LEN, 544);
    assert_eq!(sealed_len(0), 28);
}

#[test]
fn round_trip() {
    let dir = tmpdir();
    let (_, _, dek) = new_keyring(dir.path());
    for len in [0usize, 1, 15, 16, 17, 516, 4096] {
        let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let sealed = dek.seal(&pt, b"record:42").unwrap();
        assert_eq!(sealed.len(), sealed_len(len));
        assert_eq!(dek.open(&sealed, b"record:42").unwrap(), pt);
    }
    let rec = template();
    let sealed = dek.seal_template(&rec, b"record:7").unwrap();
    assert_eq!(dek.open_template(&sealed, b"record:7").unwrap(), rec);
    let mut out = [0u8; TEMPLATE_RECORD_LEN];
    dek.open_into(&sealed, b"record:7", &mut out).unwrap();
    assert_eq!(out, rec);
    // Fresh nonce each time: sealing twice gives different bytes.
    assert_ne!(dek.seal_template(&rec, b"record:7").unwrap(), sealed);
}

#[test]
fn wrong_aad_fails() {
    let dir = tmpdir();
    let (_, _, dek) = new_keyring(dir.path());
    let sealed = dek.seal_template(&template(), &42u64.to_le_bytes()).unwrap();
    let err = dek.open_template(&sealed, &43u64.to_le_bytes()).unwrap_err();
    assert!(matches!(err, Error::Authentication), "{err:?}");
    assert!(matches!(dek.open(&sealed, b""), Err(Error::Authentication)));
}

#[test]
fn every_flipped_bit_fails() {
    let dir = tmpdir();
    let (_, _, dek) = new_keyring(dir.path());
    let sealed = dek.seal_template(&template(), b"id").unwrap();
    for bit in 0..sealed.len() * 8 {
        let mut bad = sealed;
        bad[bit / 8] ^= 1 << (bit % 8);
        let mut out = [0xAAu8; TEMPLATE_RECORD_LEN];
        let err = dek.open_into(&bad, b"id", &mut out).unwrap_err();
        assert!(matches!(err, Error::Authentication), "bit {bit}: {err:?}");
        assert!(out.iter().all(|&b| b == 0), "output not cleared on failure");
    }
}

#[test]
fn short_or_garbage_input_is_an_error_not_a_panic() {
    let dir = tmpdir();
    let (_, _, dek) = new_keyring(dir.path());
    for len in 0..SEAL_OVERHEAD {
        let err = dek.open(&vec![0u8; len], b"x").unwrap_err();
        assert!(matches!(err, Error::SealedTooShort { min: 28, .. }), "{err:?}");
    }
    let sealed = dek.seal(b"hello", b"x").unwrap();
    for cut in 0..sealed.len() {
        assert!(dek.open(&sealed[..cut], b"x").is_err());
    }
    let mut extended = sealed.clone();
    extended.push(0);
    assert!(matches!(dek.open(&extended, b"x"), Err(Error::Authentication)));
    let mut garbage = vec![0u8; 600];
    for round in 0..200 {
        random_bytes(&mut garbage).unwrap();
        assert!(dek.open(&garbage[..round * 3], b"x").is_err());
    }
    // Buffer length mismatches are typed errors too.
    let mut small = [0u8; 3];
    assert!(matches!(dek.open_into(&sealed, b"x", &mut small), Err(Error::BufferLength { expected: 5, actual: 3 })));
    assert!(matches!(dek.seal_into(b"hello", b"x", &mut small), Err(Error::BufferLength { expected: 33, actual: 3 })));
}

#[test]
fn other_data_key_fails() {
    let dir = tmpdir();
    let (_, _, dek) = new_keyring(dir.path());
    let other = DataKey::from_bytes(&[9u8; KEY_LEN]);
    let sealed = dek.seal_template(&template(), b"id").unwrap();
    assert!(matches!(other.open_template(&sealed, b"id"), Err(Error::Authentication)));
}

#[test]
fn sealed_template_does_not_contain_plaintext() {
    let dir = tmpdir();
    let (_, _, dek) = new_keyring(dir.path());
    let rec = template();
    for id in 0u64..50 {
        let sealed = dek.seal_template(&rec, &id.to_le_bytes()).unwrap();
        for window in rec.windows(8) {
            assert!(!contains(&sealed, window), "plaintext fragment in record {id}");
        }
        assert!(!contains(&sealed, &rec[512..]), "scale bytes in clear");
    }
}

#[test]
fn keyring_open_gives_same_data_key() {
    let dir = tmpdir();
    let (path, kek, dek) = new_keyring(dir.path());
    let sealed = dek.seal_template(&template(), b"id").unwrap();
    let reopened = Keyring::open(&path, &kek).unwrap();
    assert_eq!(reopened.open_template(&sealed, b"id").unwrap(), template());
    let info = Keyring::info(&path).unwrap();
    assert_eq!(info.version, KEYRING_VERSION);
    assert_eq!(info.kek_id, kek.id());
    assert!(info.rotated_at.is_none());
    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600);
}

#[test]
fn keyring_create_refuses_to_overwrite() {
    let dir = tmpdir();
    let (path, kek, _) = new_keyring(dir.path());
    let before = fs_err::read(&path).unwrap();
    let err = Keyring::create(&path, &kek).unwrap_err();
    assert!(matches!(err, Error::KeyringExists { .. }), "{err:?}");
    assert_eq!(fs_err::read(&path).unwrap(), before);
}

#[test]
fn wrong_kek_is_wrong_key_naming_file_and_expected_id() {
    let dir = tmpdir();
    let (path, kek, _) = new_keyring(dir.path());
    let other = Kek::generate().unwrap();
    let err = Keyring::open(&path, &other).unwrap_err();
    let Error::WrongKey { path: p, expected, given } = &err else {
        panic!("expected WrongKey, got {err:?}");
    };
    assert_eq!(p, &path);
    assert_eq!(expected, kek.id());
    assert_eq!(given, other.id());
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()) && msg.contains(kek.id()), "{msg}");
}

#[test]
fn tampered_keyring_is_corrupt() {
    let dir = tmpdir();
    let (path, kek, _) = new_keyring(dir.path());
    let text = fs_err::read_to_string(&path).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let wrapped = json["wrapped_dek"].as_str().unwrap().to_owned();
    let flipped = if wrapped.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &wrapped[..wrapped.len() - 1]);
    json["wrapped_dek"] = tampered.into();
    fs_err::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = Keyring::open(&path, &kek).unwrap_err();
    assert!(matches!(err, Error::KeyringCorrupt { .. }), "{err:?}");

    json["version"] = 2.into();
    fs_err::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = Keyring::open(&path, &kek).unwrap_err();
    assert!(matches!(err, Error::KeyringVersion { found: 2, .. }), "{err:?}");

    fs_err::write(&path, b"not json").unwrap();
    let err = Keyring::open(&path, &kek).unwrap_err();
    assert!(matches!(err, Error::KeyringParse { .. }), "{err:?}");
}

#[test]
fn rotate_keeps_data_key_and_retires_old_kek() {
    let dir = tmpdir();
    let (path, old, dek) = new_keyring(dir.path());
    let created_at = Keyring::info(&path).unwrap().created_at;
    let dek_bytes_before = keyring::unwrap_for_test(&path, &old).unwrap();
    let records: Vec<_> = (0u64..20).map(|id| dek.seal_template(&template(), &id.to_le_bytes()).unwrap()).collect();

    let new = Kek::generate().unwrap();
    Keyring::rotate(&path, &old, &new).unwrap();

    let dek_bytes_after = keyring::unwrap_for_test(&path, &new).unwrap();
    assert_eq!(**dek_bytes_before, **dek_bytes_after, "rotation changed the DEK");
    let reopened = Keyring::open(&path, &new).unwrap();
    for (id, sealed) in (0u64..).zip(&records) {
        assert_eq!(reopened.open_template(sealed, &id.to_le_bytes()).unwrap(), template());
    }
    let err = Keyring::open(&path, &old).unwrap_err();
    assert!(matches!(err, Error::WrongKey { ref expected, .. } if expected == new.id()), "{err:?}");
    let err = Keyring::rotate(&path, &old, &new).unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }), "{err:?}");

    let info = Keyring::info(&path).unwrap();
    assert_eq!(info.kek_id, new.id());
    assert_eq!(info.created_at, created_at);
    assert!(info.rotated_at.is_some());
    // No temporary file left behind; keyring still private.
    let names: Vec<_> = fs_err::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("keyring.json")]);
    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600);
}

#[test]
fn keyring_file_holds_no_key_in_clear() {
    let dir = tmpdir();
    let kek_path = dir.path().join("kek.hex");
    let kek = Kek::generate_to_file(&kek_path).unwrap();
    let path = dir.path().join("keyring.json");
    Keyring::create(&path, &kek).unwrap();
    let check = |path: &Path, kek: &Kek| {
        let file = fs_err::read(path).unwrap();
        let dek = keyring::unwrap_for_test(path, kek).unwrap();
        for secret in [&dek[..], &kek.bytes()[..]] {
            assert!(!contains(&file, secret), "raw key bytes in keyring");
            assert!(!contains(&file, hex::encode(secret).as_bytes()), "hex key in keyring");
            assert!(!contains(&file, hex::encode_upper(secret).as_bytes()));
            // Not even a sizeable fragment of the hex.
            let lower = hex::encode(secret);
            for w in lower.as_bytes().windows(16) {
                assert!(!contains(&file, w), "hex key fragment in keyring");
            }
        }
    };
    check(&path, &kek);
    let new = Kek::generate().unwrap();
    Keyring::rotate(&path, &kek, &new).unwrap();
    check(&path, &new);
}

#[test]
fn kek_file_generate_load_and_permissions() {
    let dir = tmpdir();
    let path = dir.path().join("kek.hex");
    let kek = Kek::generate_to_file(&path).unwrap();
    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600);
    let text = fs_err::read_to_string(&path).unwrap();
    assert_eq!(text.len(), 65);
    assert!(text.ends_with('\n'));
    assert_eq!(Kek::from_file(&path).unwrap().id(), kek.id());

    let err = Kek::generate_to_file(&path).unwrap_err();
    assert!(matches!(err, Error::KekFileExists { .. }), "{err:?}");
    assert_eq!(fs_err::read_to_string(&path).unwrap(), text, "overwritten");

    // Raw 32-byte form gives the same key.
    let raw_path = dir.path().join("kek.bin");
    fs_err::write(&raw_path, kek.bytes()).unwrap();
    #[cfg(unix)]
    set_mode(&raw_path, 0o600);
    assert_eq!(Kek::from_file(&raw_path).unwrap().id(), kek.id());

    #[cfg(unix)]
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660] {
        set_mode(&path, mode);
        let err = Kek::from_file(&path).unwrap_err();
        let Error::KekFilePermissions { path: p, mode: m } = &err else {
            panic!("mode {mode:o}: expected KekFilePermissions, got {err:?}");
        };
        assert_eq!(p, &path);
        assert_eq!(*m, mode);
        let msg = err.to_string();
        assert!(msg.contains("chmod 600") && msg.contains("kek.hex"), "{msg}");
    }
    #[cfg(unix)]
    {
        set_mode(&path, 0o400);
        assert_eq!(Kek::from_file(&path).unwrap().id(), kek.id());
    }
}

#[test]
fn kek_malformed_content_is_rejected_without_echoing_it() {
    let dir = tmpdir();
    let path = dir.path().join("kek.hex");
    let secretish = "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    for content in [secretish, "abcd", ""] {
        fs_err::write(&path, content).unwrap();
        #[cfg(unix)]
        set_mode(&path, 0o600);
        let err = Kek::from_file(&path).unwrap_err();
        assert!(matches!(err, Error::KekInvalid { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(!msg.contains("zz") && !msg.contains("1122"), "{msg}");
    }
}

#[test]
fn kek_from_env() {
    let hex_key = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";
    let kek = Kek::from_env_value("GABARIT_KEK", Some(format!("{hex_key}\n").into())).unwrap();
    let mut raw = [0u8; KEY_LEN];
    hex::decode_to_slice(hex_key, &mut raw).unwrap();
    assert_eq!(kek.id(), Kek::from_bytes(raw).id());
    assert_eq!(kek.id().len(), 16);

    let err = Kek::from_env_value("GABARIT_KEK", Some("1234".into())).unwrap_err();
    assert!(err.to_string().contains("environment variable GABARIT_KEK"), "{err}");
    let err = Kek::from_env("GABARIT_CRYPTO_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
    assert!(matches!(err, Error::KekEnvMissing { .. }), "{err:?}");
}

#[test]
fn kek_id_is_sha256_prefix() {
    let kek = Kek::from_bytes([0u8; KEY_LEN]);
    // sha256 of 32 zero bytes = 66687aadf862bd77...
    assert_eq!(kek.id(), "66687aadf862bd77");
}

#[test]
fn debug_is_redacted() {
    let raw = [0xABu8; KEY_LEN];
    let kek = Kek::from_bytes(raw);
    let dek = DataKey::from_bytes(&raw);
    for text in [format!("{kek:?}"), format!("{kek:#?}"), format!("{dek:?}")] {
        assert!(text.contains("redacted"), "{text}");
        assert!(!text.to_lowercase().contains("abab"), "{text}");
        assert!(!text.contains("171"), "{text}");
    }
}

#[test]
fn data_key_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DataKey>();
    assert_send_sync::<Kek>();
}

#[test]
fn derived_keys_differ_by_label_and_from_another_data_key() {
    let a = DataKey::from_bytes(&[1u8; KEY_LEN]);
    let b = DataKey::from_bytes(&[2u8; KEY_LEN]);
    assert_ne!(*a.derive("audit"), *a.derive("rows"));
    assert_ne!(*a.derive("audit"), *b.derive("audit"));
    assert_eq!(*a.derive("audit"), *DataKey::from_bytes(&[1u8; KEY_LEN]).derive("audit"), "deterministic");
    let m = a.mac_key("rows");
    let tag = m.tag(&[b"ab", b"c"]);
    assert!(m.check(&[b"ab", b"c"], &tag));
    assert!(!m.check(&[b"a", b"bc"], &tag), "parts are framed by their length");
    assert!(!b.mac_key("rows").check(&[b"ab", b"c"], &tag));
}

#[test]
fn a_mac_tag_with_two_compensating_changes_is_refused() {
    let m = DataKey::from_bytes(&[1u8; KEY_LEN]).mac_key("rows");
    let tag = m.tag(&[b"row"]);
    // The same bit flipped in two characters: differences that an XOR-accumulating
    // comparison would cancel.
    let mut forged = tag.clone().into_bytes();
    forged[0] ^= 0x01;
    forged[1] ^= 0x01;
    let forged = String::from_utf8(forged).unwrap();
    assert!(m.check(&[b"row"], &tag));
    assert!(!m.check(&[b"row"], &forged), "{forged}");
}

#[test]
fn a_mac_key_is_redacted_when_debugged() {
    let m = DataKey::from_bytes(&[0xABu8; KEY_LEN]).mac_key("rows");
    assert_eq!(format!("{m:?}"), "MacKey(<redacted>)");
}

#[test]
fn a_missing_directory_is_an_io_error_not_an_existing_file() {
    let dir = tmpdir();
    let missing = dir.path().join("missing");
    let err = Kek::generate_to_file(missing.join("kek.hex")).unwrap_err();
    assert!(matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound), "{err:?}");
    let err = Keyring::create(missing.join("keyring.json"), &Kek::generate().unwrap()).unwrap_err();
    assert!(matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound), "{err:?}");
}

#[test]
fn a_kek_file_of_up_to_256_bytes_is_read_whole_and_a_longer_one_refused() {
    let dir = tmpdir();
    let path = dir.path().join("kek.hex");
    let hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let mut raw = [0u8; KEY_LEN];
    hex::decode_to_slice(hex_key, &mut raw).unwrap();
    // Leading whitespace: the key's last digit is the file's last byte.
    let padded = |len: usize| format!("{}{hex_key}", " ".repeat(len - hex_key.len()));
    fs_err::write(&path, padded(256)).unwrap();
    #[cfg(unix)]
    set_mode(&path, 0o600);
    assert_eq!(Kek::from_file(&path).unwrap().id(), Kek::from_bytes(raw).id());
    fs_err::write(&path, padded(257)).unwrap();
    let err = Kek::from_file(&path).unwrap_err();
    assert!(matches!(err, Error::KekInvalid { reason: "file too large to be a 32-byte key", .. }), "{err:?}");
}

/// Puts the working directory back when dropped, even if the test fails.
struct RestoreWorkingDir(std::path::PathBuf);

impl Drop for RestoreWorkingDir {
    fn drop(&mut self) {
        let _ = std::env::set_current_dir(&self.0);
    }
}

#[test]
fn key_files_go_where_their_path_says_whatever_the_working_directory() {
    // The only test that changes the working directory (process-wide): every other test
    // names its files by absolute paths.
    let _restore = RestoreWorkingDir(std::env::current_dir().unwrap());
    let here = tmpdir();
    std::env::set_current_dir(here.path()).unwrap();
    // A bare file name is a file of the working directory.
    let kek = Kek::generate_to_file("kek.hex").unwrap();
    Keyring::create("keyring.json", &kek).unwrap();
    let new = Kek::generate().unwrap();
    Keyring::rotate("keyring.json", &kek, &new).unwrap();
    assert_eq!(Keyring::info(here.path().join("keyring.json")).unwrap().kek_id, new.id());
    // Rotation writes its temporary file beside the keyring: it works even when the working
    // directory, removed, can hold no file.
    let elsewhere = tmpdir();
    let (path, old, _) = new_keyring(elsewhere.path());
    here.close().unwrap();
    let new = Kek::generate().unwrap();
    Keyring::rotate(&path, &old, &new).unwrap();
    assert_eq!(Keyring::info(&path).unwrap().kek_id, new.id());
}

#[test]
fn a_keyring_kept_as_bytes_opens_rotates_and_names_its_place_in_errors() {
    let place = Path::new("gabarit_keyring in postgres://host/db");
    let kek = Kek::generate().unwrap();
    let (dek, json) = Keyring::create_bytes(place, &kek).unwrap();
    let sealed = dek.seal_template(&template(), b"id").unwrap();
    let reopened = Keyring::open_bytes(place, &json, &kek).unwrap();
    assert_eq!(reopened.open_template(&sealed, b"id").unwrap(), template());
    // The same JSON as a keyring file holds: a file with these bytes opens too.
    let dir = tmpdir();
    let path = dir.path().join("keyring.json");
    fs_err::write(&path, &json).unwrap();
    assert_eq!(Keyring::open(&path, &kek).unwrap().open_template(&sealed, b"id").unwrap(), template());
    assert_eq!(Keyring::info(&path).unwrap().kek_id, kek.id());

    let other = Kek::generate().unwrap();
    let err = Keyring::open_bytes(place, &json, &other).unwrap_err();
    assert!(matches!(&err, Error::WrongKey { path, .. } if path == place), "{err:?}");
    let rotated = Keyring::rotate_bytes(place, &json, &kek, &other).unwrap();
    assert_ne!(rotated, json);
    let after = Keyring::open_bytes(place, &rotated, &other).unwrap();
    assert_eq!(after.open_template(&sealed, b"id").unwrap(), template());
    assert!(matches!(Keyring::open_bytes(place, &rotated, &kek), Err(Error::WrongKey { .. })));
    assert!(matches!(Keyring::rotate_bytes(place, &rotated, &kek, &other), Err(Error::WrongKey { .. })));
    let err = Keyring::open_bytes(place, b"{", &kek).unwrap_err();
    assert!(matches!(&err, Error::KeyringParse { path, .. } if path == place), "{err:?}");
}

/// The sealed form is standard AES-256-GCM, whatever implementation computes it: test case 16
/// of the GCM specification (McGrew and Viega; also NIST's vectors) opens, and a byte changed
/// in its body, its tag or its associated data does not. This is what keeps records sealed by
/// an earlier release (the RustCrypto implementation, before ring) readable.
#[test]
fn sealed_form_is_standard_aes_256_gcm() {
    let key: [u8; KEY_LEN] =
        hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308").unwrap().try_into().unwrap();
    let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
    let plaintext = hex::decode(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    )
    .unwrap();
    let sealed = hex::decode(concat!(
        "cafebabefacedbaddecaf888",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ))
    .unwrap();
    let dek = DataKey::from_bytes(&key);
    assert_eq!(dek.open(&sealed, &aad).unwrap(), plaintext);
    for at in [NONCE_LEN, NONCE_LEN + 30, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[at] ^= 1;
        assert!(matches!(dek.open(&bad, &aad), Err(Error::Authentication)), "byte {at} altered");
    }
    assert!(matches!(dek.open(&sealed, &aad[1..]), Err(Error::Authentication)));
    // And what this implementation seals, under its random nonce, opens as the same standard
    // form: the nonce it prefixes is the one the body was encrypted under.
    let resealed = dek.seal(&plaintext, &aad).unwrap();
    assert_eq!(resealed.len(), sealed.len());
    assert_eq!(dek.open(&resealed, &aad).unwrap(), plaintext);
}
