//! The rules model, its validation, and the TOML form.

use super::*;

#[test]
fn templates_are_valid_and_round_trip() {
    for (name, rules) in templates::all() {
        assert_eq!(rules.validate(), Ok(()), "{name}");
        assert_eq!(Rules::from_toml(&rules.to_toml()), Ok(rules.clone()), "{name}");
        assert_eq!(Rules::decode(&rules.encode()), Ok(rules), "{name}");
    }
}

const GOOD: &str = r#"founder = "admin"
newcomer = "member"
recovery = "earliest-member"

[roles.admin]
powers = ["chat", "create-task", "assign-task", "invite", "remove", "change-rules"]
assign-to = ["member"]
reads = ["admin", "member"]
manages = ["member"]

[roles.member]
powers = ["chat", "create-task"]
reads = ["member"]
"#;

fn error_of(text: &str) -> TomlError {
    match Rules::from_toml(text) {
        Err(e) => e,
        Ok(r) => panic!("accepted: {r:?}"),
    }
}

#[test]
fn a_hand_written_file_parses() {
    let rules = Rules::from_toml(GOOD).expect("valid");
    assert_eq!(rules.founder, "admin");
    assert!(rules.roles["admin"].manages.contains("member"));
    assert_eq!(rules.recovery, Recovery::EarliestMember);
}

#[test]
fn errors_name_the_line_and_the_problem() {
    let cases: [(&str, &str, usize, &str); 7] = [
        (
            "\"chat\", \"create-task\"]\nreads",
            "\"chat\", \"fly\"]\nreads",
            12,
            "unknown power \"fly\"",
        ),
        ("manages = [\"member\"]", "manages = [\"boss\"]", 9, "unknown role \"boss\""),
        ("reads = [\"member\"]\n", "reads = [\"member\"]\nmanages = [\"admin\"]\n", 14, "cycle"),
        ("recovery = \"earliest-member\"", "recovery = \"whoever\"", 3, "unknown recovery"),
        ("founder = \"admin\"", "founder = \"root\"", 1, "unknown role \"root\""),
        ("[roles.member]", "[roles.member]\ncolour = \"red\"", 12, "unknown field"),
        ("newcomer = \"member\"", "newcomer = [", 3, "expected value"),
    ];
    for (from, to, line, words) in cases {
        let text = GOOD.replacen(from, to, 1);
        let e = error_of(&text);
        assert_eq!(e.line, line, "{to}: {e}");
        assert!(e.problem.contains(words), "{to}: {e}");
    }
}

#[test]
fn a_managed_role_holding_more_is_named_at_its_line() {
    // member gets a power admin lacks: admin (line 9) may no longer manage it.
    let text = GOOD.replacen(
        "powers = [\"chat\", \"create-task\"]",
        "powers = [\"chat\", \"rotate-keys\"]",
        1,
    );
    let e = error_of(&text);
    assert_eq!(e.line, 9, "{e}");
    assert!(e.problem.contains("holds more"), "{e}");
}

#[test]
fn validation_rules() {
    let mut r = templates::organizer_member_observer();
    r.roles.insert("Bad Name".into(), Role::default());
    assert_eq!(r.validate(), Err(RulesError::BadRoleName("Bad Name".into())));
    let mut r = templates::organizer_member_observer();
    if let Some(m) = r.roles.get_mut("observer") {
        m.manages.insert("observer".into());
    }
    let cycle = RulesError::ManagesCycle { manager: "observer".into(), managed: "observer".into() };
    assert_eq!(r.validate(), Err(cycle));
    let mut r = templates::organizer_member_observer();
    r.roles.clear();
    assert_eq!(r.validate(), Err(RulesError::RoleCount(0)));
    let mut r = templates::organizer_member_observer();
    if let Some(m) = r.roles.get_mut("member") {
        m.powers.insert(Power::ChangeRules);
        m.powers.remove(&Power::Chat);
    }
    if let Some(o) = r.roles.get_mut("organizer") {
        o.powers.remove(&Power::ChangeRules);
    }
    assert!(matches!(r.validate(), Err(RulesError::GrantsMore { .. })));
}

#[test]
fn binary_rules_are_canonical() {
    let r = templates::pursuance();
    let mut bytes = r.encode();
    bytes.push(0);
    assert!(matches!(Rules::decode(&bytes), Err(RulesError::Decode(_))));
}

#[test]
fn a_change_may_not_grant_beyond_its_author() {
    let old = Rules::from_toml(GOOD).expect("valid");
    let admin = old.capability(&BTreeSet::from(["admin".to_string()]));
    let mut new = old.clone();
    if let Some(m) = new.roles.get_mut("member") {
        m.powers.insert(Power::RotateKeys);
    }
    let holds = BTreeSet::from(["admin".to_string()]);
    assert_eq!(
        old.change_within(&new, &admin, &holds),
        Err(ChangeError::GrantsMore("member".into()))
    );
    // Creating a role is fine, and so is managing it.
    let mut new = old.clone();
    new.roles.insert("guest".into(), Role::default());
    if let Some(m) = new.roles.get_mut("admin") {
        m.manages.insert("guest".into());
    }
    assert_eq!(old.change_within(&new, &admin, &holds), Ok(()));
}

#[test]
fn arbitrary_input_never_panics() {
    use rand_core::Rng;
    let mut rng = XofRng::from_seed(b"rules junk");
    let good = templates::pursuance().encode();
    for i in 0..2000 {
        let mut bytes = good.clone();
        let bit = rng.next_u32() as usize % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok(r) = Rules::decode(&bytes) {
            assert_eq!(r.encode(), bytes, "non-canonical rules accepted");
        }
        let text = templates::pursuance().to_toml();
        let cut = (i * 7) % text.len();
        let _ = Rules::from_toml(text.get(..cut).unwrap_or(""));
    }
}

/// The committed fuzz seeds are the templates' two forms, so the fuzzers
/// start from valid rules (regenerate them from `templates::all` when a
/// template changes).
#[test]
fn fuzz_seeds_are_the_templates() {
    let seeds: [(&str, &[u8], &str); 3] = [
        (
            "organizer-member-observer",
            include_bytes!("../../../../../fuzz/seeds/rules_decode/organizer-member-observer"),
            include_str!("../../../../../fuzz/seeds/rules_toml/organizer-member-observer.toml"),
        ),
        (
            "pursuance",
            include_bytes!("../../../../../fuzz/seeds/rules_decode/pursuance"),
            include_str!("../../../../../fuzz/seeds/rules_toml/pursuance.toml"),
        ),
        (
            "direct",
            include_bytes!("../../../../../fuzz/seeds/rules_decode/direct"),
            include_str!("../../../../../fuzz/seeds/rules_toml/direct.toml"),
        ),
    ];
    for ((name, bytes, text), (template, rules)) in seeds.into_iter().zip(templates::all()) {
        assert_eq!(name, template);
        assert_eq!(bytes, rules.encode(), "{name}");
        assert_eq!(text, rules.to_toml(), "{name}");
    }
}
