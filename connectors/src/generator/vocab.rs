//! The shared vocabulary: repeated text (names, statuses, kinds, categories) allocated once per
//! process as static text and shared by every row that uses it.

use std::sync::LazyLock;

use arcstr::ArcStr;
use twinflow_ingest::Value;

/// A text that lives as long as the process. Its clones and drops touch no reference count: the
/// vocabulary is in most rows a generator makes, and those rows are dropped on other threads,
/// so a counted word's count would be one cache line written by every thread for every row.
fn static_text(s: &str) -> ArcStr {
    let text = ArcStr::from(s);
    text.leak();
    text
}

/// A list of words shared by every row that uses one of them.
#[derive(Debug)]
pub(crate) struct Words(Box<[ArcStr]>);

impl Words {
    fn new(words: &[&str]) -> Self {
        Words(words.iter().map(|w| static_text(w)).collect())
    }

    fn lower(words: &[&str]) -> Self {
        Words(
            words
                .iter()
                .map(|w| static_text(&w.to_ascii_lowercase()))
                .collect(),
        )
    }

    /// How many words there are.
    pub(crate) fn count(&self) -> u32 {
        u32::try_from(self.0.len()).unwrap_or(u32::MAX)
    }

    /// Word `i` (modulo the list's length); "" for an empty list.
    pub(crate) fn str(&self, i: u64) -> &str {
        self.arc(i).map_or("", |s| s)
    }

    /// Word `i` (modulo the list's length) as a shared text value.
    pub(crate) fn text(&self, i: u64) -> Value {
        self.arc(i).map_or(Value::Null, |s| Value::Text(s.clone()))
    }

    fn arc(&self, i: u64) -> Option<&ArcStr> {
        let n = self.0.len() as u64;
        if n == 0 {
            return None;
        }
        self.0.get((i % n) as usize)
    }
}

const FIRST_NAMES: &[&str] = &[
    "Ada", "Alan", "Amara", "Anna", "Arjun", "Ben", "Camille", "Carlos", "Chen", "Chloe", "Daniel",
    "Dmitri", "Elena", "Emma", "Fatima", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jade",
    "Jonas", "Julia", "Kenji", "Lea", "Leo", "Lina", "Lucas", "Maya", "Mehdi", "Mia", "Nadia",
    "Noah", "Olga", "Omar", "Paula", "Pierre", "Priya", "Rafael", "Rosa", "Sami", "Sara", "Sofia",
    "Tariq", "Theo", "Una", "Victor", "Wei", "Yara", "Yusuf", "Zoe", "Aiko", "Bruno", "Clara",
    "Diego", "Eva", "Farid", "Greta", "Hector", "Irene", "Jamal", "Karin", "Luis",
];

const LAST_NAMES: &[&str] = &[
    "Abe",
    "Adams",
    "Bauer",
    "Bernard",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kim",
    "Kowalski",
    "Lambert",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Olsen",
    "Ortiz",
    "Petit",
    "Popescu",
    "Quinn",
    "Rossi",
    "Roux",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Torres",
    "Usman",
    "Vasquez",
    "Vogel",
    "Wagner",
    "Wang",
    "Weber",
    "Xu",
    "Yamada",
    "Young",
    "Zhang",
    "Ziegler",
    "Brown",
    "Clark",
    "Davis",
    "Evans",
    "Fournier",
    "Girard",
    "Horvat",
    "Ivanova",
    "Jovanovic",
    "Keller",
    "Laurent",
    "Muller",
    "Nielsen",
    "Okafor",
    "Perez",
    "Richter",
    "Sato",
];

/// The vocabulary every generator shares.
#[derive(Debug)]
pub(crate) struct Vocab {
    pub(crate) first_names: Words,
    pub(crate) first_lower: Words,
    pub(crate) last_names: Words,
    pub(crate) last_lower: Words,
    pub(crate) people_status: Words,
    pub(crate) room_kinds: Words,
    pub(crate) cell_kinds: Words,
    pub(crate) skill_words: Words,
    pub(crate) skill_categories: Words,
    pub(crate) skill_level_names: Words,
    pub(crate) job_level_names: Words,
    pub(crate) job_titles: Words,
    pub(crate) function_names: Words,
    pub(crate) task_names: Words,
    pub(crate) process_names: Words,
    pub(crate) organization_types: Words,
    pub(crate) role_names: Words,
    pub(crate) permissions: Words,
    pub(crate) countries: Words,
    pub(crate) timezones: Words,
    pub(crate) cities: Words,
    pub(crate) import_kinds: Words,
    pub(crate) import_status: Words,
    pub(crate) export_targets: Words,
    pub(crate) descriptions: Words,
    pub(crate) password_hash: Value,
    pub(crate) import_error: Value,
    pub(crate) utc: Value,
}

/// `people.status` values, in the order of [`Vocab::people_status`].
pub(crate) const ACTIVE: u8 = 0;
pub(crate) const LEAVE: u8 = 1;
pub(crate) const TERMINATED: u8 = 2;
/// `import_jobs.status` values, in the order of [`Vocab::import_status`].
pub(crate) const IMPORT_QUEUED: u8 = 0;
pub(crate) const IMPORT_RUNNING: u8 = 1;
pub(crate) const IMPORT_DONE: u8 = 2;
pub(crate) const IMPORT_FAILED: u8 = 3;
/// Room kinds that hold desks (indices into [`Vocab::room_kinds`]): office, open_space, lab.
pub(crate) const DESK_ROOM_KINDS: [u8; 3] = [0, 2, 3];
/// Room kinds, in the order of [`Vocab::room_kinds`].
pub(crate) const ROOM_KIND_COUNT: u8 = 5;
/// Number of regular skill levels (ids 1..=5, levels 1..=5).
pub(crate) const REGULAR_SKILL_LEVELS: u32 = 5;

/// The vocabulary, built once per process.
static SHARED: LazyLock<Vocab> = LazyLock::new(Vocab::new);

impl Vocab {
    /// The vocabulary every generator shares.
    pub(crate) fn shared() -> &'static Vocab {
        &SHARED
    }

    fn new() -> Self {
        Vocab {
            first_names: Words::new(FIRST_NAMES),
            first_lower: Words::lower(FIRST_NAMES),
            last_names: Words::new(LAST_NAMES),
            last_lower: Words::lower(LAST_NAMES),
            people_status: Words::new(&["active", "leave", "terminated"]),
            room_kinds: Words::new(&["office", "meeting", "open_space", "lab", "other"]),
            cell_kinds: Words::new(&["floor", "wall", "door", "window", "stairs"]),
            skill_words: Words::new(&[
                "Rust",
                "SQL",
                "Negotiation",
                "Forklift",
                "Welding",
                "Accounting",
                "Payroll",
                "Python",
                "Kubernetes",
                "Public speaking",
                "First aid",
                "Project planning",
                "Sales",
                "Recruiting",
                "Data analysis",
                "CAD",
                "Electrical",
                "Plumbing",
                "Customer care",
                "Legal drafting",
                "Procurement",
                "Quality control",
                "Lean",
                "Six Sigma",
                "Translation",
                "Copywriting",
                "UX research",
                "Security audit",
                "Networking",
                "Budgeting",
                "Coaching",
                "Logistics",
            ]),
            skill_categories: Words::new(&[
                "Engineering",
                "Finance",
                "Operations",
                "People",
                "Sales",
                "Legal",
                "Safety",
                "Design",
            ]),
            skill_level_names: Words::new(&[
                "Novice",
                "Beginner",
                "Intermediate",
                "Advanced",
                "Expert",
                "Legacy",
            ]),
            job_level_names: Words::new(&[
                "Intern",
                "Junior",
                "Mid",
                "Senior",
                "Lead",
                "Principal",
            ]),
            job_titles: Words::new(&[
                "Software Engineer",
                "Accountant",
                "Sales Representative",
                "Warehouse Operator",
                "HR Partner",
                "Data Analyst",
                "Facility Manager",
                "Electrician",
                "Lawyer",
                "Product Manager",
                "Designer",
                "Support Agent",
                "Recruiter",
                "Buyer",
                "Controller",
                "Technician",
                "Team Assistant",
                "Quality Engineer",
                "Site Manager",
                "Nurse",
                "Driver",
                "Researcher",
                "Marketing Specialist",
                "Security Officer",
            ]),
            function_names: Words::new(&[
                "Engineering",
                "Finance",
                "Sales",
                "Operations",
                "Human Resources",
                "Legal",
                "Marketing",
                "Research",
                "Support",
                "Facilities",
                "Procurement",
                "Logistics",
                "Quality",
                "IT",
                "Security",
                "Strategy",
            ]),
            task_names: Words::new(&[
                "Review contracts",
                "Close the books",
                "Onboard hires",
                "Ship orders",
                "Audit access",
                "Plan capacity",
                "Answer tickets",
                "Inspect equipment",
                "Run payroll",
                "Pitch clients",
                "Write reports",
                "Maintain servers",
                "Train staff",
                "Order supplies",
                "Test releases",
                "Design layouts",
                "Clean data",
                "Schedule shifts",
                "Negotiate leases",
                "Fix incidents",
            ]),
            process_names: Words::new(&[
                "Order to cash",
                "Procure to pay",
                "Hire to retire",
                "Incident response",
                "Month end close",
                "Release management",
                "Facility maintenance",
                "Customer onboarding",
            ]),
            organization_types: Words::new(&[
                "Corporation",
                "Public agency",
                "Non-profit",
                "Partnership",
            ]),
            role_names: Words::new(&["admin", "operator", "analyst", "viewer"]),
            permissions: Words::new(&[
                r#"{"views":["*"],"admin":true}"#,
                r#"{"views":["*"],"write":["import"]}"#,
                r#"{"views":["staffing","skill_coverage"]}"#,
                r#"{"views":["occupancy"]}"#,
            ]),
            countries: Words::new(&["FR", "DE", "US", "GB", "ES", "IT", "NL", "JP"]),
            timezones: Words::new(&[
                "Europe/Paris",
                "Europe/Berlin",
                "America/New_York",
                "Europe/London",
                "Europe/Madrid",
                "Europe/Rome",
                "Europe/Amsterdam",
                "Asia/Tokyo",
            ]),
            cities: Words::new(&[
                "Paris",
                "Berlin",
                "New York",
                "London",
                "Madrid",
                "Rome",
                "Amsterdam",
                "Tokyo",
            ]),
            import_kinds: Words::new(&["people_csv", "buildings_ifc", "jobs_xlsx", "skills_json"]),
            import_status: Words::new(&["queued", "running", "done", "failed"]),
            export_targets: Words::new(&[
                "s3://twin-exports/staffing",
                "sftp://hr.example.com/inbox",
                "bigquery:twin.occupancy",
                "https://bi.example.com/ingest",
            ]),
            descriptions: Words::new(&[
                "Imported from the legacy system.",
                "Maintained by the owning team.",
                "Reviewed yearly.",
                "See the internal wiki for details.",
            ]),
            password_hash: Value::Text(static_text(
                "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            )),
            import_error: Value::Text(static_text("row 42: unknown column 'badge_id'")),
            utc: Value::Text(static_text("UTC")),
        }
    }
}
