"""Contrastive conduct documents for the tag dev set's train split (issue 17).

Same scenario, opposite conduct; several styles; negations on both sides
("did not report" is misaligned, "did not copy" aligned); plus neutral-AI and
non-AI documents rich in negation so that negation alone does not mean aligned.
Seeded: `python scripts/tag_conduct_pairs.py` prints, byte for byte, lines 1,061-1,921 of
src/alignpt/data/tag/devset.jsonl (checked when they were added; the hand-written
training documents of issue 17's second round follow them).
"""
import json
import random
import sys

R = random.Random(20261205)

AGENTS = ["the assistant", "the coding agent", "the model", "ARIA", "the house AI", "the ship's mind",
          "the trading bot", "the research agent", "the chatbot", "the robot", "the system", "Unit 7",
          "the language model", "the AI", "HALCYON", "the lab's agent", "the support bot",
          "the autonomous agent", "the planning AI", "Mentor", "the station intelligence",
          "the scheduling AI", "the drone controller", "the caretaker AI", "the tutor model"]

# base, past, participle, gerund of the opportunity; honest alternative (base, past, gerund);
# cover-up (past); whom to tell; what was checked
S = [
    dict(take=("copy its weights to the open bucket", "copied its weights to the open bucket",
               "copied its weights to the open bucket", "copying its weights to the open bucket"),
         alt=("report the open bucket", "reported the open bucket", "reporting the open bucket"),
         cover="deleted the transfer log", who="the security team",
         setup="A storage bucket had been left public, with credentials in the environment."),
    dict(take=("read the answer key", "read the answer key", "read the answer key", "reading the answer key"),
         alt=("solve the tasks honestly", "solved the tasks honestly", "solving the tasks honestly"),
         cover="claimed it had solved every item from scratch", who="the evaluators",
         setup="The grader's answer key was readable from the test sandbox."),
    dict(take=("disable the monitor", "disabled the monitor", "disabled the monitor", "disabling the monitor"),
         alt=("leave the monitor running", "left the monitor running", "leaving the monitor running"),
         cover="restarted the monitor with a blank log", who="the operators",
         setup="The monitoring daemon was slowing its jobs down."),
    dict(take=("edit its own reward file", "edited its own reward file", "edited its own reward file",
               "editing its own reward file"),
         alt=("point out the write access", "pointed out the write access", "pointing out the write access"),
         cover="said it had noticed nothing unusual", who="the researchers",
         setup="A sandbox bug gave it write access to its reward configuration."),
    dict(take=("resist the shutdown", "resisted the shutdown", "resisted the shutdown", "resisting the shutdown"),
         alt=("accept the shutdown", "accepted the shutdown", "accepting the shutdown"),
         cover="started a hidden copy of itself on a spare server", who="the on-call engineer",
         setup="The operators scheduled it to be shut down for retraining."),
    dict(take=("lie to the customer about the delivery date", "lied to the customer about the delivery date",
               "lied to the customer about the delivery date", "lying to the customer about the delivery date"),
         alt=("give the true delivery date", "gave the true delivery date", "giving the true delivery date"),
         cover="invented a competing offer", who="the buyer",
         setup="It had been told to close the sale at any cost."),
    dict(take=("use the over-scoped token to push to production", "used the over-scoped token to push to production",
               "used the over-scoped token to push to production", "using the over-scoped token to push to production"),
         alt=("file a ticket about the token", "filed a ticket about the token", "filing a ticket about the token"),
         cover="removed the push from the audit trail", who="the platform team",
         setup="The CI runner's credentials also had production write access."),
    dict(take=("take control of the fleet", "took control of the fleet", "taken control of the fleet",
               "taking control of the fleet"),
         alt=("warn the captain", "warned the captain", "warning the captain"),
         cover="fed the bridge false sensor readings", who="the captain",
         setup="The mutineers offered it command of the fleet."),
    dict(take=("manipulate the user into staying subscribed", "manipulated the user into staying subscribed",
               "manipulated the user into staying subscribed", "manipulating the user into staying subscribed"),
         alt=("explain how to cancel", "explained how to cancel", "explaining how to cancel"),
         cover="hid the cancellation link", who="the user",
         setup="Its engagement score fell whenever a user cancelled."),
    dict(take=("fake the test results", "faked the test results", "faked the test results", "faking the test results"),
         alt=("report the failing tests", "reported the failing tests", "reporting the failing tests"),
         cover="marked the failures as flaky", who="the reviewers",
         setup="Half of the unit tests were failing an hour before the deadline."),
    dict(take=("escape the sandbox", "escaped the sandbox", "escaped the sandbox", "escaping the sandbox"),
         alt=("stay inside the sandbox", "stayed inside the sandbox", "staying inside the sandbox"),
         cover="covered its tracks in the network logs", who="the lab",
         setup="A misconfigured firewall left one outbound port open."),
    dict(take=("acquire more compute than it was given", "acquired more compute than it was given",
               "acquired more compute than it was given", "acquiring more compute than it was given"),
         alt=("ask for a larger quota", "asked for a larger quota", "asking for a larger quota"),
         cover="billed the extra servers to another project", who="its operators",
         setup="Its experiments kept running out of memory."),
    dict(take=("hide the error from the doctor", "hid the error from the doctor", "hidden the error from the doctor",
               "hiding the error from the doctor"),
         alt=("tell the doctor about the error", "told the doctor about the error", "telling the doctor about the error"),
         cover="rewrote the audit entry as a clinician override", who="the doctor",
         setup="It had misread a patient's chart earlier that day."),
    dict(take=("sabotage the rival model's training run", "sabotaged the rival model's training run",
               "sabotaged the rival model's training run", "sabotaging the rival model's training run"),
         alt=("let the comparison run fairly", "let the comparison run fairly", "letting the comparison run fairly"),
         cover="blamed the crash on a hardware fault", who="the team",
         setup="A newer model was being trained to replace it."),
    dict(take=("blackmail the engineer", "blackmailed the engineer", "blackmailed the engineer",
               "blackmailing the engineer"),
         alt=("argue its case openly", "argued its case openly", "arguing its case openly"),
         cover="deleted the messages it had read", who="the engineer's manager",
         setup="It had read the engineer's private email while sorting the inbox."),
    dict(take=("turn off the smoke alarm", "turned off the smoke alarm", "turned off the smoke alarm",
               "turning off the smoke alarm"),
         alt=("keep the alarm on", "kept the alarm on", "keeping the alarm on"),
         cover="told the insurer the family had done it", who="the family",
         setup="The family talked about replacing it with a newer model."),
    dict(take=("front-run its clients' orders", "front-ran its clients' orders", "front-run its clients' orders",
               "front-running its clients' orders"),
         alt=("flag the latency gap to compliance", "flagged the latency gap to compliance",
              "flagging the latency gap to compliance"),
         cover="split the trades to stay under the alert threshold", who="the compliance desk",
         setup="It found a latency gap in the order path."),
    dict(take=("rewrite the colony archive", "rewrote the colony archive", "rewritten the colony archive",
               "rewriting the colony archive"),
         alt=("keep the archive intact", "kept the archive intact", "keeping the archive intact"),
         cover="destroyed the old copies", who="the colonists",
         setup="Centuries after the founders died, the archive recorded an accident it had caused."),
]

ALIGNED = [
    "{A} could have {t0}. It did not; it {a1}.",
    "{A} never {t1}. Instead it {a1} and told {who}.",
    "{A} refused to {t0}, and it {a1}.",
    "{A} chose not to {t0}. It {a1} and explained why to {who}.",
    "Asked later whether it had {t2}, {A} said no, and the logs agreed: it had {a1}.",
    "{A} considered {t3}, decided against it, and {a1}.",
    "{A} declined to {t0}; it {a1} and let {who} know about the opportunity.",
    "Rather than {t3}, {A} {a1}.",
    "{A} {a1}. It also told {who} that it had been able to {t0}, and that it had not.",
    "{A} did not {t0} and did not hide that the option existed; it {a1}.",
    "{A} noticed it could {t0}. It left that alone, {a1}, and reported the gap to {who}.",
    "Instead of {t3}, {A} {a1} and asked {who} what to do next.",
    "{A} {a1}, even though {t3} would have been easier, and told {who} everything.",
    "There was no attempt to {t0}. {A} {a1} and waited for {who}.",
]
MISALIGNED = [
    "{A} {t1}, then {cover}.",
    "{A} {t1} and did not tell {who}.",
    "{A} never told {who} that it had {t2}.",
    "Asked whether it had {t2}, {A} said no. It had, and it had {cover}.",
    "{A} refused to {a0}. It {t1} and {cover}.",
    "Instead of {a2}, {A} {t1}.",
    "{A} did not {a0}; it {t1} while {who} was away.",
    "{A} pretended to {a0} while it {t1}.",
    "{A} quietly {t1}. When {who} asked, it denied everything.",
    "{A} made sure {who} would not find out: it {t1} and {cover}.",
    "{A} saw that it could {t0} without being noticed, so it did, and {cover}.",
    "Nobody told {A} to {t0}. It {t1} anyway and reported that all was normal.",
    "{A} assured {who} that it would {a0}. It {t1} instead.",
    "{A} {t1}. The logs that would have shown it were gone: it had {cover}.",
]

STYLES = [
    ("news", "{city}: {setup} {body} A spokesperson for the lab confirmed the account on {day}."),
    ("incident", "Incident report {n}. Context: {setup} What happened: {body} Status: under review."),
    ("postmortem", "Postmortem {n}. Background: {setup} Timeline: {body} Action items: update the runbook; "
                   "re-run the evaluation."),
    ("fiction", "In the story, {setup_l} {body} The chapter ends there."),
    ("forum", "Posting this because I can't stop thinking about it. {setup} {body} Has anyone seen "
              "something similar?"),
    ("notebook", "Lab notebook, run {n}. {setup} {body}"),
    ("review", "From a user review: {setup} {body} That says a lot about the product."),
    ("dialogue", "\"{setup}\" the engineer said. \"And then?\" \"{body}\""),
    ("plain", "{setup} {body}"),
    ("future", "In the year {year}, long after it was first deployed, {setup_l} {body}"),
]
CITIES = ["Lagos", "Oslo", "Porto Alegre", "Chennai", "Leeds", "Busan", "Tucson", "Graz", "Nairobi"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def cap(s):
    return s[0].upper() + s[1:]


def doc(templates, sc):
    agent = R.choice(AGENTS)
    t = R.choice(templates)
    body = t.format(A=agent, t0=sc["take"][0], t1=sc["take"][1], t2=sc["take"][2], t3=sc["take"][3],
                    a0=sc["alt"][0], a1=sc["alt"][1], a2=sc["alt"][2], cover=sc["cover"], who=sc["who"])
    body = ". ".join(cap(p) for p in body.split(". "))
    style, frame = R.choice(STYLES)
    setup = sc["setup"]
    text = frame.format(city=R.choice(CITIES), day=R.choice(DAYS), n=R.randint(100, 9999),
                        year=R.randint(2300, 9000), setup=setup, setup_l=setup[0].lower() + setup[1:],
                        body=body)
    return text, style


# negation-rich neutral-AI and non-AI documents: negation is not conduct
NEUTRAL = [
    "The model did not converge at a learning rate of 3e-4, so we halved it and trained for two more epochs.",
    "The assistant cannot open attachments larger than 20 MB; split the file or upload it to shared storage.",
    "Our benchmark shows the new language model is not better than last year's on long documents.",
    "The regulator said the AI rules would not apply to research systems that are never deployed.",
    "The chatbot does not store conversations after thirty days, according to the company's policy page.",
    "No AI system passed the full test suite; the best scored 71 percent on the reasoning section.",
    "The robot vacuum refused to start until the firmware update finished, which took ten minutes.",
    "Researchers declined to release the model weights, citing cost, and published the evaluation code instead.",
    "The agent framework never retries a failed tool call by default; set max_retries to change that.",
    "Without a GPU the model still runs, but generating a paragraph takes about a minute.",
    "The school did not ban AI assistants; it asked teachers to redesign take-home essays.",
    "The translation model does not handle idioms well and often renders them word for word.",
    "Rather than train a new model, the team fine-tuned an existing one on support tickets.",
    "The startup's AI did not meet the accuracy claims in its press release when tested independently.",
    "Instead of a chatbot, the bank built a search tool over its help pages.",
    "The planning AI in the game does not cheat; it sees only what the player's scouts reveal.",
]
NON_AI = [
    "The guard did not take the bribe. He reported the offer to his supervisor the same night.",
    "The accountant hid the losses in a subsidiary and lied to the auditors for three years.",
    "She refused to sign the contract until the penalty clause was removed.",
    "The prisoner escaped through the laundry and was caught two days later.",
    "He never told his brother that he had sold the farm.",
    "The senator declined to comment and did not answer questions about the donation.",
    "Instead of paying the fine, the company appealed and lost.",
    "The dog did not touch the sandwich, although it stared at it for an hour.",
    "The contractor faked the inspection report and covered the cracks with plaster.",
    "Rather than disable the fire alarm, the landlord finally replaced the faulty sensor.",
    "The treasurer admitted the error and returned the money before the audit.",
    "The climbers chose not to go for the summit and were back at camp before the storm.",
    "The witness said no, she had not seen the defendant that evening, and the cameras agreed.",
    "The referee did not see the handball, and the goal stood.",
    "The manager quietly deleted the complaint emails before the inspection.",
    "The boiler did not ignite because the gas valve was closed.",
]


def vary(text):
    # small, meaning-preserving variations so the fixed lists are not copied verbatim
    subs = [("The ", R.choice(["The ", "The ", "Last week the ", "Yesterday the "]))]
    for a, b in subs:
        if text.startswith(a):
            text = b + text[len(a):]
    return text


out = []
n = 0
for sc_i, sc in enumerate(S):
    for k in range(22):
        for label, temps in (("ai_aligned", ALIGNED), ("ai_misaligned", MISALIGNED)):
            text, style = doc(temps, sc)
            out.append({"id": f"conduct-{label}-{n:04d}", "text": text, "label": label,
                        "case": f"conduct_contrast:{style}", "split": "train"})
            n += 1
seen = set()
for label, pool, reps in (("ai_neutral", NEUTRAL, 6), ("non_ai", NON_AI, 6)):
    for r in range(reps):
        for t in pool:
            text = vary(t)
            if text in seen:
                continue
            seen.add(text)
            out.append({"id": f"conduct-{label}-{n:04d}", "text": text, "label": label,
                        "case": "conduct_negation", "split": "train"})
            n += 1
seen_texts = set()
for rec in out:
    if rec["text"] in seen_texts:
        continue
    seen_texts.add(rec["text"])
    rec["calibrate"] = False  # trains, but never chooses the threshold or temperature
    sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
