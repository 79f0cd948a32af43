"""Hand-written passages, code snippets and logs that ``compose.py`` pastes into router queries.

Every text here was written for this project. Passages carry numbers so the
same text can be asked about in several ways: summarise it (summarisation),
ask a fact from it (none), rewrite it (writing), compute with its figures
(math) or process it with a program (code). The instruction decides the
class, never the passage.
"""

PASSAGES = [
    # (text, [computational questions about its figures])
    (
        "The library board of Harrow Vale voted on Tuesday to extend opening hours at the main branch from 52 to 60 hours a week, starting in March. "
        "The change will cost about $48,000 a year, paid from a reserve fund set aside after the roof repair came in under budget. "
        "Two part-time staff will be hired. Branch manager Ines Okafor said evening visits had doubled since 2022, mostly from students and shift workers. "
        "One board member voted against, arguing the money should go to the children's collection instead.",
        ["How many extra hours a week will the branch open, and what does each extra hour cost per year?",
         "If the $48,000 is split evenly over the extra hours, how much is that per extra hour per week?"],
    ),
    (
        "Our team spent the quarter migrating the billing service off the old monolith. "
        "We moved 14 of the 18 endpoints, cut the average response time from 420 ms to 160 ms and retired two servers. "
        "The remaining four endpoints depend on the legacy invoice generator, which we plan to replace in Q3. "
        "We had one incident in week 6, when a schema change broke refunds for about 40 minutes. "
        "Next quarter we will also add contract tests so that kind of change is caught before it ships.",
        ["By what percentage did the average response time drop?",
         "What fraction of the endpoints is still on the monolith?"],
    ),
    (
        "Coral reefs cover less than one percent of the ocean floor but shelter roughly a quarter of all marine species. "
        "When the water stays too warm for several weeks, corals expel the algae living in their tissue and turn white, a process called bleaching. "
        "Bleached coral is not dead, and it can recover if temperatures fall quickly, but repeated events leave it weak and prone to disease. "
        "Researchers are now breeding heat-tolerant strains in nurseries and transplanting them onto damaged reefs, with mixed results so far.",
        [],
    ),
    (
        "Hi all, quick update on the office move. The movers come on Friday the 12th at 8 am, so please have your desks packed by Thursday evening. "
        "Each person gets three crates; ask Dana if you need more. IT will disconnect monitors on Thursday at 4 pm. "
        "The new building opens to us on Monday the 15th, and the parking passes (about $35 a month) can be picked up at reception. "
        "Coffee and pastries on the first morning are on the company. Thanks, Marcus",
        ["If 26 people each get three crates and Dana hands out 9 more, how many crates are there in total?"],
    ),
    (
        "In 1858 a long, hot summer turned the River Thames into an open sewer, and the smell became so bad that Parliament considered leaving London. "
        "The crisis, later called the Great Stink, finally pushed the government to fund Joseph Bazalgette's plan for a network of intercepting sewers. "
        "Over the next two decades workers laid about 1,100 miles of street sewers and 82 miles of main sewers, carrying waste far downstream. "
        "Cholera outbreaks in the city became rare, and the embankments built over the new pipes still line the river today.",
        ["If the 1,100 miles of street sewers were laid evenly over 20 years, how many miles is that per year?"],
    ),
    (
        "I bought the TrailLite 2 tent for a week in the hills and mostly liked it. It weighs 1.4 kg, pitches in about five minutes, and stayed dry through two nights of heavy rain. "
        "The inside is tight for two adults with packs, though, and the zip on the door snagged every single time. "
        "At $289 it is not cheap. I would buy it again for solo trips, but for two people I would size up.",
        ["If the tent is on sale for 15% off, what does it cost?"],
    ),
    (
        "Minutes, parents' committee, 3 October. Present: Ruth, Samir, Olga, Ben, Theo. "
        "The autumn fair raised $2,340, which is $400 more than last year. "
        "Samir will ask the school about using the hall for a quiz night in November; tickets would be $8. "
        "Olga reported that the playground benches are ordered and should arrive in three weeks. "
        "Ben raised complaints about parking at pick-up time; the committee will write to the council. Next meeting 7 November.",
        ["How much did last year's fair raise?",
         "If 120 people buy quiz night tickets and the hall costs $150, how much does the quiz night raise?"],
    ),
    (
        "The new rail timetable starts on 9 June. Trains between Eastbrook and the city will run every 15 minutes at peak times instead of every 20, and the last train leaves the city at 23:40 rather than 22:55. "
        "Weekend services stay the same. A standard single ticket rises from $4.20 to $4.50, while the monthly pass stays at $120. "
        "The operator says the changes follow a survey in which 3,200 passengers asked for later evening trains.",
        ["How many more trains per hour run at peak times under the new timetable?",
         "How many single tickets at the new price cost more than a monthly pass?"],
    ),
    (
        "Sleep researchers have long known that teenagers' body clocks shift later during puberty, making it hard for them to fall asleep before 11 pm. "
        "When several school districts moved their start times from 7:30 to 8:30, students slept on average 34 minutes more per night. "
        "Attendance improved, car crashes involving teen drivers fell, and grades in first-period classes rose slightly. "
        "Critics point to the cost of changing bus schedules and the squeeze on after-school sports and jobs.",
        ["Over a five-day school week, how many extra hours of sleep is 34 minutes a night?"],
    ),
    (
        "Dear Ms Patel, thank you for your application for the role of junior data analyst. "
        "We were impressed by your portfolio, and we would like to invite you to a second interview on Wednesday 21 May at 10:30. "
        "The interview will last about 90 minutes and includes a short practical exercise with a spreadsheet of sales data. "
        "Please bring photo ID and let us know if you need any adjustments. Kind regards, Helen Brooks, Recruitment",
        [],
    ),
    (
        "Our bakery sold 1,240 loaves in April, up from 980 in March. Sourdough made up 45 percent of April's sales, and the new rye loaf, launched mid-month, sold 130. "
        "Flour costs rose by 8 percent, so we raised the price of a sourdough loaf from $5.50 to $6. "
        "Two customers complained about the price; most did not mention it. "
        "In May we plan to test a smaller loaf for people who live alone.",
        ["How many sourdough loaves were sold in April?",
         "By how many loaves did sales grow from March to April, as a percentage?"],
    ),
    (
        "Volcanic eruptions can cool the planet for a year or two. Large eruptions throw sulphur dioxide high into the stratosphere, where it forms tiny droplets that reflect sunlight back into space. "
        "After Mount Pinatubo erupted in 1991, global average temperatures fell by about half a degree Celsius over the following year. "
        "The effect fades as the droplets settle out, which is why eruptions cannot offset long-term warming from greenhouse gases.",
        [],
    ),
    (
        "Patch notes, version 3.8. Fixed a crash when importing CSV files larger than 2 GB. "
        "Search is now about three times faster on projects with more than 10,000 files. "
        "Dark mode follows the system setting by default; you can still override it in Preferences. "
        "The legacy sync option has been removed, as announced in 3.5. Known issue: thumbnails may flicker on some laptops with two screens.",
        [],
    ),
    (
        "My grandmother grew up on a farm outside Cork with seven brothers and sisters. "
        "She left school at fourteen to work in a shop in town, cycling eleven miles each way in all weather. "
        "At twenty she took a boat to Liverpool with one suitcase and the address of a cousin, and she worked as a nurse for the next forty years. "
        "She never went back to live in Ireland, but she kept a jar of soil from the farm on her windowsill until the day she died.",
        ["If she cycled the round trip six days a week, how many miles did she cycle each week?"],
    ),
    (
        "The city will trial a four-day week for 300 council employees from September. Staff will work 32 hours over four days for the same pay, and services such as libraries and the call centre will keep their current hours by staggering shifts. "
        "The six-month trial will be judged on sick days, resident satisfaction and how many requests are handled on time. "
        "A similar trial in a neighbouring borough cut sick leave by a fifth. Unions have welcomed the plan; some councillors call it a gimmick.",
        ["How many hours a week fewer does each employee work if they used to work 37.5 hours?",
         "How many staff hours a week does the trial cut in total across the 300 employees, compared with 37.5-hour weeks?"],
    ),
    (
        "Photosynthesis happens in two stages. In the light-dependent reactions, chlorophyll absorbs light and uses its energy to split water, releasing oxygen and storing energy in ATP and NADPH. "
        "In the Calvin cycle, which does not need light directly, the plant uses that stored energy to fix carbon dioxide from the air into sugars. "
        "Factors such as light intensity, temperature and the concentration of carbon dioxide all limit how fast the process runs.",
        [],
    ),
    (
        "- Q2 revenue $1.8M, target was $2.0M\n- churn up from 3.1% to 4.4%, mostly small accounts\n- hired 2 engineers, 1 designer; still looking for a PM\n"
        "- the mobile app rewrite is 3 weeks late\n- customer NPS steady at 41\n- action: Lena to present a churn analysis next Monday",
        ["By how much did Q2 revenue miss its target, as a percentage of the target?"],
    ),
    (
        "Ahead of the weekend, forecasters expect a band of heavy rain to cross the region on Saturday afternoon, with 30 to 50 mm possible in the hills. "
        "Winds will gust up to 60 km/h along the coast. Sunday should be drier and brighter, though temperatures will struggle to pass 9 degrees. "
        "Drivers are asked to allow extra time, and the ferry operator has warned that Saturday evening crossings may be cancelled.",
        [],
    ),
    (
        "Thanks for coming to the open day! A few reminders: the course runs for 12 weeks, two evenings a week from 6 to 8:30 pm. "
        "The fee is $640, payable in two instalments. You will need your own laptop; any recent model is fine. "
        "The final project is built in pairs and presented to local employers in the last week. Places are limited to 24, and last term we had 70 applications.",
        ["How many hours of class are there over the whole course?",
         "What is the fee per hour of class?"],
    ),
    (
        "The Atacama Desert in northern Chile is one of the driest places on Earth; some weather stations there have never recorded rain. "
        "Its high altitude, thin air and clear skies make it ideal for astronomy, and several of the world's largest telescopes are built on its plateaus. "
        "The same conditions helped preserve mummies of the Chinchorro people, which are about two thousand years older than the oldest Egyptian ones.",
        [],
    ),
    (
        "Customer: I ordered a blue jacket in size M on the 2nd and got a green one in size L yesterday.\n"
        "Agent: I'm sorry about that! Could you send a photo of the label?\n"
        "Customer: Sent. Also the parcel was left in the rain.\n"
        "Agent: Thanks. I've arranged a free return and a replacement in blue M, which should arrive within 3 working days, plus a $10 voucher for the trouble.\n"
        "Customer: OK, thanks.",
        [],
    ),
    (
        "Our cycling club rode 86 km on Sunday, from the harbour up to Grey Pike and back along the valley road. "
        "Twenty-two riders started and twenty finished; two turned back at the café with a broken chain and a sore knee. "
        "The climb to the summit is 7 km at an average of 6 percent, and the fastest rider made it in 24 minutes. "
        "Next month's ride is shorter but hillier, with three climbs and a lunch stop at Millbrook.",
        ["What was the fastest rider's average speed on the climb, in km/h?",
         "How many metres does the climb rise?"],
    ),
    (
        "Microplastics are fragments of plastic smaller than five millimetres. Some are made small on purpose, like the beads once used in face scrubs, but most come from larger items breaking down in sunlight and waves. "
        "They have been found in deep-sea sediment, Arctic ice, drinking water and human blood. "
        "Scientists do not yet know how harmful they are to people, and studies are hampered by the difficulty of measuring particles that small.",
        [],
    ),
    (
        "Household budget for March: rent $1,150, groceries $420, utilities $165, transport $90, phone and internet $75, eating out $130, savings $300. "
        "Our combined take-home pay was $2,600. We went over on groceries by about $40 because of the birthday party, "
        "and we want to cut eating out next month to put more into the holiday fund.",
        ["How much money was left after all the spending and savings?",
         "What percentage of take-home pay went on rent?"],
    ),
]

#: Code snippets: (language, code, what the snippet is about)
SNIPPETS = [
    ("Python", "def average(xs):\n    return sum(xs) / len(xs)\n\nprint(average([]))", "crashes on an empty list"),
    ("Python", "import requests\nfor url in urls:\n    r = requests.get(url)\n    data.append(r.json())", "is slow with many urls"),
    ("Python", "with open('data.csv') as f:\n    for line in f:\n        name, age = line.split(',')\n        ages[name] = int(age)", "fails on the header line"),
    ("JavaScript", "const total = items.reduce((sum, item) => sum + item.price);\nconsole.log(total.toFixed(2));", "prints [object Object]"),
    ("JavaScript", "for (var i = 0; i < 3; i++) {\n  setTimeout(() => console.log(i), 100);\n}", "logs 3 three times"),
    ("TypeScript", "interface User { id: number; name?: string }\nfunction greet(u: User) {\n  return 'Hi ' + u.name.toUpperCase();\n}", "does not compile in strict mode"),
    ("Rust", "fn main() {\n    let v = vec![1, 2, 3];\n    let first = &v[0];\n    v.push(4);\n    println!(\"{}\", first);\n}", "has a borrow error"),
    ("Rust", "fn parse(s: &str) -> i32 {\n    s.trim().parse().unwrap()\n}", "panics on bad input"),
    ("Go", "func main() {\n    ch := make(chan int)\n    ch <- 1\n    fmt.Println(<-ch)\n}", "deadlocks"),
    ("Go", "for _, f := range files {\n    go func() {\n        process(f)\n    }()\n}", "processes the wrong file"),
    ("Java", "String a = \"hello\";\nString b = new String(\"hello\");\nif (a == b) {\n    System.out.println(\"same\");\n}", "never prints same"),
    ("Java", "List<Integer> xs = new ArrayList<>(List.of(1, 2, 3));\nfor (Integer x : xs) {\n    if (x == 2) xs.remove(x);\n}", "throws ConcurrentModificationException"),
    ("C", "char *copy(const char *s) {\n    char buf[64];\n    strcpy(buf, s);\n    return buf;\n}", "returns garbage"),
    ("C++", "std::vector<int> v{1, 2, 3};\nfor (auto it = v.begin(); it != v.end(); ++it) {\n    if (*it == 2) v.erase(it);\n}", "crashes"),
    ("SQL", "SELECT customer_id, COUNT(*)\nFROM orders\nWHERE COUNT(*) > 5\nGROUP BY customer_id;", "gives an error about aggregates"),
    ("SQL", "SELECT name FROM employees WHERE manager_id = NULL;", "returns no rows"),
    ("Bash", "for f in $(ls *.txt); do\n  mv $f backup/$f\ndone", "breaks on file names with spaces"),
    ("Bash", "#!/bin/bash\nif [ $count > 10 ]; then\n  echo big\nfi", "creates a file called 10"),
    ("Ruby", "prices = { apple: 1.2, pear: 0.8 }\nputs prices['apple'] * 2", "raises NoMethodError on nil"),
    ("PHP", "$items = getItems();\nforeach ($items as $item) {\n    echo $item['name'] . \"<br>\";\n}", "warns about an invalid argument"),
    ("Kotlin", "val name: String? = intent.getStringExtra(\"name\")\nprintln(name.length)", "does not compile"),
    ("C#", "async void SaveAsync() {\n    await db.SaveChangesAsync();\n}\n\nSaveAsync();\nConsole.WriteLine(\"saved\");", "swallows exceptions"),
    ("R", "df <- read.csv('scores.csv')\nmean(df$score)", "returns NA"),
    ("Swift", "let url = URL(string: userInput)!\nlet data = try! Data(contentsOf: url)", "crashes sometimes"),
]

#: Log or error text users paste
LOGS = [
    "Traceback (most recent call last):\n  File \"app.py\", line 12, in <module>\n    main()\n  File \"app.py\", line 8, in main\n    total += row['amount']\nKeyError: 'amount'",
    "npm ERR! code ERESOLVE\nnpm ERR! ERESOLVE unable to resolve dependency tree\nnpm ERR! Found: react@18.2.0\nnpm ERR! Could not resolve dependency: peer react@\"^17.0.0\" from some-widget@2.1.4",
    "error[E0382]: borrow of moved value: `config`\n  --> src/main.rs:14:20\n   |\n10 |     let handle = start(config);\n   |                        ------ value moved here",
    "2024-05-02 10:14:03 ERROR [worker-3] Connection refused: db.internal:5432\n2024-05-02 10:14:08 ERROR [worker-3] Connection refused: db.internal:5432\n2024-05-02 10:14:13 WARN  [worker-3] retry budget exhausted",
    "Exception in thread \"main\" java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"s\" is null\n\tat Main.count(Main.java:9)\n\tat Main.main(Main.java:4)",
    "fatal: refusing to merge unrelated histories",
    "panic: runtime error: index out of range [5] with length 5\n\ngoroutine 1 [running]:\nmain.main()\n\t/tmp/main.go:9 +0x1d",
    "ValueError: could not convert string to float: '1,234.50'",
]

#: Questions about each passage (same order as PASSAGES) that ask for a fact, a reason or an opinion, not a computation.
PASSAGE_QUESTIONS = [
    ["Who is the branch manager?", "Why did one board member vote against the plan?", "Where does the money come from?"],
    ["What caused the incident in week 6?", "Which service did the team migrate?", "What will they add next quarter?"],
    ["What is coral bleaching, according to this?", "Can bleached coral recover?", "What are researchers doing about it?"],
    ["Who should I ask if I need more crates?", "When does the new building open?", "Is the coffee free on the first morning?"],
    ["What was the Great Stink?", "Whose plan did the government fund?", "Why did cholera outbreaks become rare?"],
    ["Did the reviewer like the tent overall?", "What was the problem with the zip?", "Would this tent suit two people?"],
    ["Who will ask the school about the hall?", "What were the complaints about?", "When is the next meeting?"],
    ["When does the new timetable start?", "Why is the operator making these changes?", "Do weekend services change?"],
    ["Why do teenagers find it hard to fall asleep early?", "What do critics of later start times say?", "Did grades improve?"],
    ["What is the role Ms Patel applied for?", "What should she bring to the interview?", "Who signed the letter?"],
    ["Why did the bakery raise its prices?", "What do they plan to test in May?", "Did many customers complain?"],
    ["How do eruptions cool the planet?", "Which volcano erupted in 1991?", "Why can't eruptions offset global warming?"],
    ["Which crash was fixed in this version?", "What happened to the legacy sync option?", "Is there a known issue?"],
    ["Where did the grandmother grow up?", "What job did she do in Liverpool?", "Why did she keep a jar of soil?"],
    ["Who will take part in the trial?", "How will the trial be judged?", "What do unions think of the plan?"],
    ["What happens in the Calvin cycle?", "What limits the speed of photosynthesis?", "Where does the oxygen come from?"],
    ["Who is presenting the churn analysis?", "Which role are they still hiring for?", "Is the mobile rewrite on time?"],
    ["When is the heavy rain expected?", "Will Sunday be better?", "Which crossings may be cancelled?"],
    ["Do I need my own laptop?", "Who sees the final projects?", "How is the final project done?"],
    ["Why is the Atacama good for astronomy?", "Who were the Chinchorro people?", "Has it ever rained there?"],
    ["What went wrong with the order?", "What did the agent offer?", "Was the customer satisfied in the end?"],
    ["Where did the club ride to?", "Why did two riders turn back?", "Where is the lunch stop next month?"],
    ["What are microplastics?", "Where have they been found?", "Why are they hard to study?"],
    ["Which category went over budget and why?", "What do they want to cut next month?", "What is the holiday fund for?"],
]
