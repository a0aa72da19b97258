//! Signed notes: the golang.org/x/mod sumdb/note examples, byte for byte.

use audit::note::{NoteError, NoteSigner, NoteVerifier, open};

const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str =
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str =
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

#[test]
fn go_sign_example_reproduces_byte_for_byte() {
    let signer = NoteSigner::from_skey(PETER_SKEY).unwrap();
    let signed = signer.sign(TEXT).unwrap();
    let want = "If you think cryptography is the answer to your problem,\n\
                then you don't know what your problem is.\n\
                \n\
                — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    assert_eq!(signed, want);
    assert_eq!(signer.verifier().to_vkey(), PETER_VKEY);
    assert_eq!(signer.to_skey().expose(), PETER_SKEY);
    assert_eq!(signer.sign("abc"), Err(NoteError::Malformed));
}

#[test]
fn go_open_example() {
    let peter = NoteVerifier::from_vkey(PETER_VKEY).unwrap();
    let enoch = NoteVerifier::from_vkey(ENOCH_VKEY).unwrap();
    let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");

    let n = open(msg.as_bytes(), std::slice::from_ref(&peter)).unwrap();
    assert_eq!(n.text, TEXT);
    assert_eq!(n.sigs.len(), 1);
    assert_eq!(
        (n.sigs[0].name.as_str(), n.sigs[0].key_id),
        ("PeterNeumann", 0xc74f20a3)
    );
    assert_eq!(n.unverified.len(), 1);
    assert_eq!(
        (n.unverified[0].name.as_str(), n.unverified[0].key_id),
        ("EnochRoot", 0xaf0cfe78)
    );

    let n = open(msg.as_bytes(), &[peter.clone(), enoch.clone()]).unwrap();
    assert_eq!(n.sigs.len(), 2);
    assert!(n.unverified.is_empty());

    assert_eq!(open(msg.as_bytes(), &[]), Err(NoteError::Unverified));

    let only_enoch = format!("{TEXT}\n{ENOCH_SIG}");
    assert!(matches!(
        open(only_enoch.as_bytes(), &[enoch.clone(), peter.clone(), enoch.clone()]),
        Err(NoteError::Ambiguous { .. })
    ));
    let only_peter = format!("{TEXT}\n{PETER_SIG}");
    assert!(open(only_peter.as_bytes(), &[enoch.clone(), peter.clone(), enoch.clone()]).is_ok());

    let many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
    assert_eq!(
        open(many.as_bytes(), std::slice::from_ref(&peter)),
        Err(NoteError::Malformed)
    );
    assert_eq!(open(many.as_bytes(), &[]), Err(NoteError::Malformed));

    let bad_sig = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert_eq!(
        open(bad_sig.as_bytes(), std::slice::from_ref(&peter)),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );

    let dup = format!(
        "{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{}ABCD{}",
        &ENOCH_SIG[..60],
        &ENOCH_SIG[60..]
    );
    let n = open(dup.as_bytes(), std::slice::from_ref(&peter)).unwrap();
    assert_eq!(n.sigs.len(), 1);
    assert_eq!(n.unverified.len(), 2);
    assert_eq!(
        n.unverified[1].base64,
        "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5nABCD2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
    );

    let bad_msgs = [
        TEXT.to_string(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!(
            "{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ];
    for msg in &bad_msgs {
        assert_eq!(
            open(msg.as_bytes(), std::slice::from_ref(&peter)),
            Err(NoteError::Malformed),
            "{msg:?}"
        );
    }
    let mut invalid_utf8 = vec![0xff];
    invalid_utf8.extend_from_slice(format!("{TEXT}\n{PETER_SIG}").as_bytes());
    assert_eq!(
        open(&invalid_utf8, std::slice::from_ref(&peter)),
        Err(NoteError::Malformed)
    );
}

#[test]
fn c2sp_example_verifies() {
    let v = NoteVerifier::from_vkey("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k").unwrap();
    let msg = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let n = open(msg.as_bytes(), &[v]).unwrap();
    assert_eq!(n.text, "This is an example message.\n");
}

#[test]
fn mangled_verifier_keys_are_refused() {
    assert!(NoteVerifier::from_vkey(PETER_VKEY).is_ok());
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i != 0 || j != b.len() {
                let s = String::from_utf8_lossy(&b[i..j]);
                assert!(NoteVerifier::from_vkey(&s).is_err(), "{s}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        let s = String::from_utf8_lossy(&m);
        assert!(NoteVerifier::from_vkey(&s).is_err(), "{s}");
    }
    // Wrong key length and unknown algorithm, each with an adjusted key id.
    assert!(
        NoteVerifier::from_vkey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==").is_err()
    );
    assert_eq!(
        NoteVerifier::from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::UnknownAlgorithm)
    );
}

#[test]
fn mangled_signer_keys_are_refused() {
    let b = PETER_SKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            let s = String::from_utf8_lossy(&b[i..j]);
            assert!(NoteSigner::from_skey(&s).is_err(), "{s}");
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        let s = String::from_utf8_lossy(&m);
        assert!(NoteSigner::from_skey(&s).is_err(), "{s}");
    }
}
