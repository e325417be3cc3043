//! Any bytes given to the grant decoder yield a typed error or a grant that re-encodes to
//! the same bytes; verification never panics, and whatever verifies is byte for byte what
//! the gateway itself signs for that grant (Ed25519 signatures are deterministic and
//! `verify_strict` refuses malleated ones), so no forged variant is ever accepted.
#![no_main]
use cyxcloud_core::grant::{GrantCheck, SignedGrant, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = SignedGrant::decode(data) {
        assert_eq!(&g.to_bytes()[..], data);
        // The seed corpus is signed with this key.
        let gateway = SigningKey::from_bytes(&[7u8; 32]);
        let check = GrantCheck {
            node: &g.grant.node,
            shard: &g.grant.shard,
            op: g.grant.op,
            size: 0,
            now: 0,
        };
        if g.verify(&gateway.verifying_key(), &check).is_ok() {
            assert_eq!(
                g.grant.sign(&gateway).to_bytes(),
                g.to_bytes(),
                "a forged grant verified"
            );
        }
    }
});
