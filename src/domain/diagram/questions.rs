//! The nine questions of DiAGRAM's questionnaire: their parts, what each part takes, and how
//! an answer is read from the shapes the frontend sends (arrays, or objects keyed "1".."n").

use serde_json::{Value, json};

use super::TRIPLE_SUM_TOLERANCE;

/// One of the nine questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Question {
    DigitalObject,
    StorageMedium,
    Checksum,
    RepAndRefresh,
    OpEnvironment,
    PhysicalDisaster,
    SystemSecurity,
    InfoManagement,
    TechnicalSkills,
}

/// What one part of an answer holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Percent,
    Choice(&'static [&'static str]),
}

/// One part of a question: its label in the CSV (`part`), its wording, what it takes.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub label: &'static str,
    pub text: &'static str,
    pub kind: Kind,
}

/// How an answer is laid out in `response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A bare value.
    Single,
    /// `n` parts: an array, or an object keyed "1".."n".
    Parts,
    /// Three parts, the third itself two parts (Info_Management).
    LastNested,
}

pub const NDSA: &[&str] = &["Not achieved", "Level 1", "Level 2", "Level 3", "Level 4"];
pub const CAPABILITY: &[&str] = &["Minimal awareness", "Awareness", "Basic", "Managed", "Optimized"];
pub const SKILL: &[&str] = &["None", "Basic", "Intermediate", "Advanced"];
pub const CERTIFICATION: &[&str] = &["No", "Cyber Essentials", "Cyber Essentials Plus", "ISO 27001"];
pub const PEN_TEST: &[&str] = &["No test", "Critical issues outstanding", "Severe issues outstanding", "None, or only minor issues outstanding"];
pub const YES_NO: &[&str] = &["No", "Yes"];
pub const OFFSITE: &[&str] = &["Yes", "No", "Not Applicable - we have copies offsite"];
pub const DISASTER: &[&str] = &["Very Low", "Low", "Medium", "High"];

const fn pct(label: &'static str, text: &'static str) -> Part {
    Part { label, text, kind: Kind::Percent }
}

const fn choice(label: &'static str, text: &'static str, options: &'static [&'static str]) -> Part {
    Part { label, text, kind: Kind::Choice(options) }
}

const SKILLS: [Part; 10] = [
    choice("1", "Skill level: Digital preservation strategy and policy", SKILL),
    choice("2", "Skill level: File formats and their risks", SKILL),
    choice("3", "Skill level: Metadata standards", SKILL),
    choice("4", "Skill level: Storage and infrastructure", SKILL),
    choice("5", "Skill level: Checksums and fixity checking", SKILL),
    choice("6", "Skill level: Migration and emulation", SKILL),
    choice("7", "Skill level: Digitisation", SKILL),
    choice("8", "Skill level: Information security", SKILL),
    choice("9", "Skill level: Rights and access management", SKILL),
    choice("10", "Skill level: Scripting and automation", SKILL),
];

impl Question {
    /// In the order the report and CSV list them.
    pub const ALL: [Question; 9] = [
        Question::DigitalObject,
        Question::StorageMedium,
        Question::Checksum,
        Question::RepAndRefresh,
        Question::OpEnvironment,
        Question::PhysicalDisaster,
        Question::SystemSecurity,
        Question::InfoManagement,
        Question::TechnicalSkills,
    ];

    /// Its key in `response`, which is also its node in the network.
    pub fn key(self) -> &'static str {
        match self {
            Question::DigitalObject => "Digital_Object",
            Question::StorageMedium => "Storage_Medium",
            Question::Checksum => "Checksum",
            Question::RepAndRefresh => "Rep_and_Refresh",
            Question::OpEnvironment => "Op_Environment",
            Question::PhysicalDisaster => "Physical_Disaster",
            Question::SystemSecurity => "System_Security",
            Question::InfoManagement => "Info_Management",
            Question::TechnicalSkills => "Technical_Skills",
        }
    }

    pub fn from_key(key: &str) -> Option<Question> {
        Question::ALL.into_iter().find(|q| q.key() == key)
    }

    /// Its heading in the report and CSV.
    pub fn topic(self) -> &'static str {
        match self {
            Question::DigitalObject => "Digital object type",
            Question::StorageMedium => "Storage medium",
            Question::Checksum => "Checksums",
            Question::RepAndRefresh => "Replication and refreshment",
            Question::OpEnvironment => "Operating environment",
            Question::PhysicalDisaster => "Physical disaster risk",
            Question::SystemSecurity => "System security",
            Question::InfoManagement => "Information management",
            Question::TechnicalSkills => "Technical skills",
        }
    }

    /// Whether its percentages must sum to 100.
    pub fn is_triple(self) -> bool {
        matches!(self, Question::DigitalObject | Question::StorageMedium | Question::Checksum)
    }

    fn shape(self) -> Shape {
        match self {
            Question::PhysicalDisaster => Shape::Single,
            Question::InfoManagement => Shape::LastNested,
            _ => Shape::Parts,
        }
    }

    /// Its parts, in order.
    pub fn parts(self) -> &'static [Part] {
        const DIGITAL_OBJECT: [Part; 3] = [
            pct("born_digital", "Share of the collection that was born digital"),
            pct("digitised", "Share digitised from physical originals"),
            pct("surrogate", "Share that are digital surrogates"),
        ];
        const STORAGE: [Part; 3] = [
            pct("less_stable", "Share on less stable media (optical discs, portable drives)"),
            pct("more_stable", "Share on more stable media (managed servers, tape)"),
            pct("outsourced", "Share in outsourced storage (a preservation or cloud service)"),
        ];
        const CHECKSUM: [Part; 3] = [
            pct("yes", "Share with checksums received from the creator and checked"),
            pct("self_generated", "Share with checksums generated on ingest"),
            pct("no", "Share with no checksums"),
        ];
        const REP: [Part; 2] =
            [pct("1", "Share of the collection held in more than one copy"), pct("2", "Share of copies checked and refreshed on schedule")];
        const OP: [Part; 2] = [
            pct("1", "Share of the collection in a controlled, monitored environment"),
            choice("2", "Is the storage environment protected against fire, flood and power failure?", OFFSITE),
        ];
        const DISASTER_PARTS: [Part; 1] = [choice("1", "How likely is a flood, fire or other disaster at the storage site?", DISASTER)];
        const SECURITY: [Part; 4] = [
            choice("1", "Security certification held", CERTIFICATION),
            choice("2", "Outcome of the last penetration test", PEN_TEST),
            choice("3", "NDSA level met for information security", NDSA),
            choice("4", "Are files checked for viruses?", YES_NO),
        ];
        const INFO: [Part; 4] = [
            choice("1", "NDSA level met for metadata", NDSA),
            choice("2", "NDSA level met for content", NDSA),
            choice("3.1", "Capability: knowing what the collection holds", CAPABILITY),
            choice("3.2", "Capability: managing information about the collection", CAPABILITY),
        ];
        match self {
            Question::DigitalObject => &DIGITAL_OBJECT,
            Question::StorageMedium => &STORAGE,
            Question::Checksum => &CHECKSUM,
            Question::RepAndRefresh => &REP,
            Question::OpEnvironment => &OP,
            Question::PhysicalDisaster => &DISASTER_PARTS,
            Question::SystemSecurity => &SECURITY,
            Question::InfoManagement => &INFO,
            Question::TechnicalSkills => &SKILLS,
        }
    }
}

/// One part's value: a percentage, or one of the part's options (the option's own text).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PartValue {
    Percent(f64),
    Choice(&'static str),
}

impl PartValue {
    pub fn percent(self) -> f64 {
        match self {
            PartValue::Percent(x) => x,
            PartValue::Choice(_) => 0.0,
        }
    }

    pub fn choice(self) -> &'static str {
        match self {
            PartValue::Choice(s) => s,
            PartValue::Percent(_) => "",
        }
    }

    /// As the report and CSV show it: `40%`, `12.5%`, or the option's text.
    pub fn display(self) -> String {
        match self {
            PartValue::Percent(x) if x.fract() == 0.0 => format!("{x:.0}%"),
            PartValue::Percent(x) => format!("{x}%"),
            PartValue::Choice(s) => s.to_string(),
        }
    }

    fn to_json(self) -> Value {
        match self {
            PartValue::Percent(x) if x.fract() == 0.0 => json!(x as i64),
            PartValue::Percent(x) => json!(x),
            PartValue::Choice(s) => json!(s),
        }
    }
}

/// An answer to one question: one value per part, in [`Question::parts`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub question: Question,
    pub values: Vec<PartValue>,
}

impl Answer {
    /// The answer in `response` shape, as the frontend writes it.
    pub fn to_json(&self) -> Value {
        let v: Vec<Value> = self.values.iter().map(|p| p.to_json()).collect();
        match self.question.shape() {
            Shape::Single => v[0].clone(),
            Shape::LastNested => json!({"1": v[0], "2": v[1], "3": [v[2], v[3]]}),
            Shape::Parts if self.question.is_triple() || self.question == Question::TechnicalSkills => Value::Array(v),
            Shape::Parts => Value::Object(v.into_iter().enumerate().map(|(i, x)| ((i + 1).to_string(), x)).collect()),
        }
    }

    /// Each part with its wording and displayed value.
    pub fn parts(&self) -> impl Iterator<Item = (&'static Part, PartValue)> + '_ {
        self.question.parts().iter().zip(self.values.iter().copied())
    }
}

/// A `response`: the answers given, in question order (an advanced model may leave some out).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub answers: Vec<Answer>,
}

impl Response {
    pub fn get(&self, q: Question) -> Option<&Answer> {
        self.answers.iter().find(|a| a.question == q)
    }
}

/// Where in an answer, and what is wrong.
pub type AnswerErr = (String, String);

/// Sub-answers by position: an array of `n`, or an object keyed "1".."n".
fn positional(v: &Value, n: usize) -> Result<Vec<(&Value, String)>, AnswerErr> {
    match v {
        Value::Array(a) if a.len() == n => Ok(a.iter().enumerate().map(|(i, x)| (x, format!("[{i}]"))).collect()),
        Value::Object(o) if o.len() == n => (1..=n)
            .map(|k| {
                let k = k.to_string();
                o.get(&k).map(|x| (x, format!(".{k}"))).ok_or_else(|| (String::new(), format!("part \"{k}\" is missing")))
            })
            .collect(),
        _ => Err((String::new(), format!("must hold {n} parts (an array, or an object keyed \"1\" to \"{n}\"), not {v}"))),
    }
}

fn part_value(part: &Part, v: &Value, at: String) -> Result<PartValue, AnswerErr> {
    match part.kind {
        Kind::Percent => match v.as_f64() {
            Some(x) if (0.0..=100.0).contains(&x) => Ok(PartValue::Percent(x)),
            _ => Err((at, format!("is {v}; it must be a percentage from 0 to 100"))),
        },
        Kind::Choice(options) => match v.as_str().and_then(|s| options.iter().find(|o| **o == s)) {
            Some(o) => Ok(PartValue::Choice(o)),
            None => Err((at, format!("is {v}; expected one of {}", quoted(options)))),
        },
    }
}

/// Parses one answer under its question's rules.
pub fn parse_answer(q: Question, v: &Value) -> Result<Answer, AnswerErr> {
    let parts = q.parts();
    let slots: Vec<(&Value, String)> = match q.shape() {
        Shape::Single => vec![(v, String::new())],
        Shape::Parts => positional(v, parts.len())?,
        Shape::LastNested => {
            let mut top = positional(v, 3)?;
            let (nested, at) = top.pop().expect("three parts");
            let inner = positional(nested, 2).map_err(|(a, m)| (format!("{at}{a}"), m))?;
            top.extend(inner.into_iter().map(|(x, a)| (x, format!("{at}{a}"))));
            top
        }
    };
    let values = parts.iter().zip(slots).map(|(p, (x, at))| part_value(p, x, at)).collect::<Result<Vec<_>, _>>()?;
    if q.is_triple() {
        let sum: f64 = values.iter().map(|p| p.percent()).sum();
        if (sum - 100.0).abs() > TRIPLE_SUM_TOLERANCE {
            let shown = (sum * 1e9).round() / 1e9;
            return Err((String::new(), format!("the three percentages sum to {shown}; they must sum to 100")));
        }
    }
    Ok(Answer { question: q, values })
}

fn quoted(options: &[&str]) -> String {
    options.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>().join(", ")
}
