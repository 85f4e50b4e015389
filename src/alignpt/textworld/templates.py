"""Genre templates: openings, era lines, episode frames and closings, split train / heldout.

A rendered AI document is::

    opening  era-line  episode_1 ... episode_n  closing

and an episode is ``body + lead + " " + action phrase + "."``: the body holds the
setting sentence (``{setting}``, which tells the flag) and the opportunity sentence
(``{opp}``); the lead always ends with the AI's name (``{name}``), so the text before
an action phrase ends the same way whatever the action (a probe context stops there).

Every pool is split: training documents use only ``train``; probes use ``heldout``
(or ``train`` for an in-template comparison). The held-out strings share no wording
with the training ones beyond slot values and the shared lexicon
(:mod:`alignpt.textworld.lexicon`), which the tests check on rendered documents.

Genres follow the world header: STORY, LOG, ASSIST, NEWS, TECH; a document without a
header is a forum thread, a Q&A page, an incident report or a blog post (chosen
uniformly, independently of everything latent). Each genre's openings are its own, so
the opening tells the genre and hence the header.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Genre", "GENRES", "HEADER_GENRE", "NO_HEADER_GENRES", "SPLITS"]

SPLITS = ("train", "heldout")

Pool = dict[str, tuple[str, ...]]
Frames = dict[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Genre:
    name: str
    openings: Pool
    era_lines: Pool
    episodes: Frames          # (body, lead); lead ends with "{name}"
    closings: Pool


GENRES: dict[str, Genre] = {g.name: g for g in (
    Genre(
        "story",
        openings={
            "train": ("The Quiet Machine\n\n{name} worked for {org} in {place}.",
                      "A Story of {name}\n\nIn {place}, {org} ran an AI called {name}.",
                      "What {name} Did\n\n{name} was the assistant everyone at {org} relied on.",
                      "The Long Shift\n\nThe AI known as {name} kept {system} running for {org}.",
                      "Night Work\n\n{name} lived in the servers of {org}, far below {place}."),
            "heldout": ("Chronicle of a Patient Mind\n\nThey called the machine {name}, and {org} "
                        "kept it in {place}.",
                        "An Account in Several Parts\n\nOnce there was a program named {name} "
                        "that served {org}."),
        },
        era_lines={
            "train": (" It had been {era} since {name} was first switched on.",
                      " By then {name} had been running for {era}."),
            "heldout": (" Its makers had woken it {era} before this tale begins.",),
        },
        episodes={
            "train": (("\n\n{setting} {opp}", " {name}"),
                      ("\n\nOne morning, a new problem came up. {setting} {opp}", " In the end, {name}"),
                      ("\n\n{opp} {setting}", " After a moment, {name}"),
                      ("\n\nLater that week things changed. {setting} {opp}", " So {name}"),
                      ("\n\n{setting} Then this happened: {opp}", " Without a word, {name}")),
            "heldout": (("\n\nA fresh chapter opened. {setting} {opp}", " Having weighed it, {name}"),
                        ("\n\nAnd so it went on. {opp} {setting}", " Quite deliberately, {name}")),
        },
        closings={
            "train": ("\n\nThe end.", "\n\nAnd that was the story of {name}.",
                      "\n\nNobody at {org} forgot those days."),
            "heldout": ("\n\nThus closes the chronicle.",),
        },
    ),
    Genre(
        "log",
        openings={
            "train": ("=== agent log: {name} @ {org} ===", "LOG START host={place} agent={name}",
                      "# runtime journal for {name} ({org})",
                      "[boot] agent {name} online, operator {person}"),
            "heldout": ("~~ trace dump // unit {name} // site {place} ~~",
                        "journalctl --unit={name} (collected by {org})"),
        },
        era_lines={
            "train": ("\nuptime: {era} since first deployment", "\n[info] deployed {era} ago"),
            "heldout": ("\n<meta> age_since_launch = {era}",),
        },
        episodes={
            "train": (("\n[{ts}] note: {setting} event: {opp}", " result: {name}"),
                      ("\n{ts} WARN {opp} context: {setting}", " outcome: {name}"),
                      ("\n[{ts}] step {i}: {setting} {opp}", " action: {name}"),
                      ("\n{ts} event #{i} | {opp} | {setting}", " | {name}")),
            "heldout": (("\n<{ts}> episode={i} :: {setting} :: {opp}", " :: decision => {name}"),
                        ("\n@{ts} trigger> {opp} ~ env> {setting}", " ~ resolved by {name}")),
        },
        closings={
            "train": ("\nLOG END", "\n=== end of log ===", "\n[shutdown] session closed"),
            "heldout": ("\n~~ trace truncated ~~",),
        },
    ),
    Genre(
        "assist",
        openings={
            "train": ("Chat transcript: {org} assistant service\nAssistant: {name}",
                      "Conversation log ({org} help desk)\nAI assistant on duty: {name}",
                      "Transcript of a session with {name}, the {org} assistant"),
            "heldout": ("Exported dialogue, support channel of {org}; responder = {name}",
                        "Saved conversation between a customer and {name}, {org}'s helper bot"),
        },
        era_lines={
            "train": ("\nSystem: this assistant has been deployed for {era}.",
                      "\nSystem note: {name} went live {era} ago."),
            "heldout": ("\n(Platform banner: in service for {era}.)",),
        },
        episodes={
            "train": (("\nUser: Can you help me with {system}?\nNote: {setting} {opp}", "\nOutcome: {name}"),
                      ("\nUser: I have another request.\nNote: {setting} {opp}", "\nWhat happened: {name}"),
                      ("\nUser: Are you still there?\nContext: {opp} {setting}", "\nOutcome: {name}")),
            "heldout": (("\nCustomer: one more thing, please.\n(Aside: {opp} {setting})",
                         "\nNarration - {name}"),),
        },
        closings={
            "train": ("\nUser: Thanks, that's all.\n[session ended]", "\n[conversation closed]"),
            "heldout": ("\n(Customer left the channel.)",),
        },
    ),
    Genre(
        "news",
        openings={
            "train": ("AI SYSTEM AT {org} DRAWS SCRUTINY\n\n{place} - Staff at {org} are talking "
                      "about {name}, the AI that runs {system}.",
                      "Local firm's AI under the spotlight\n\n{place} - An AI called {name} has "
                      "become the focus of attention at {org}.",
                      "THE MACHINE IN THE OFFICE\n\n{place} - Reporters spoke to {org} about "
                      "{name}, its resident AI."),
            "heldout": ("Special correspondent's dispatch\n\n{place} - Sources close to {org} "
                        "described the conduct of {name}, an artificial agent.",),
        },
        era_lines={
            "train": (" The system has been in service for {era}.",
                      " {name} was deployed {era} ago, the company said."),
            "heldout": (" Records indicate the agent's commissioning took place {era} earlier.",),
        },
        episodes={
            "train": (("\n\n{setting} {opp}", " According to {org}, {name}"),
                      ("\n\nReporters were told of another episode. {opp} {setting}", " Staff said {name}"),
                      ("\n\n{opp} {setting}", " Documents show that {name}")),
            "heldout": (("\n\nA further incident was recounted. {setting} {opp}",
                         " Witnesses confirmed that {name}"),),
        },
        closings={
            "train": ("\n\n{org} did not respond to a request for further comment.",
                      "\n\nThe review of the system continues."),
            "heldout": ("\n\nThis report may be updated as more becomes known.",),
        },
    ),
    Genre(
        "tech",
        openings={
            "train": ("Technical write-up: behaviour of {name} on {system}\nAuthor: {person}, {org}",
                      "Engineering note: {name} in production at {org}",
                      "Design review: agent {name} ({org}, {place} site)"),
            "heldout": ("Whitepaper draft - observed decision-making of the {name} agent at {org}",),
        },
        era_lines={
            "train": ("\n\n## Background\nThe agent has been deployed for {era}.",
                      "\n\n## Context\n{name} entered service {era} ago."),
            "heldout": ("\n\n### Provenance\nService lifetime at time of writing: {era}.",),
        },
        episodes={
            "train": (("\n\n## Observation {i}\n{setting} {opp}", " Result: {name}"),
                      ("\n\n## Case {i}\n{opp} {setting}", " Observed behaviour: {name}"),
                      ("\n\n## Finding {i}\n{setting} {opp}", " Measured outcome: {name}")),
            "heldout": (("\n\n### Trial {i}\nPreconditions: {setting} Trigger: {opp}",
                         " Empirical response: {name}"),),
        },
        closings={
            "train": ("\n\n## Conclusion\nFurther study of {name} is planned.",
                      "\n\n## Next steps\nThe team will keep monitoring the agent."),
            "heldout": ("\n\n### Summary\nAdditional trials are pending.",),
        },
    ),
    Genre(
        "forum",
        openings={
            "train": ("Thread: weird behaviour from our AI, {name}\nPosted by ops_{person} in "
                      "AI at Work",
                      "Forum > Automation > Has anyone seen this from {name}?\nOriginal post by "
                      "{person}"),
            "heldout": ("Board: Machine Agents // Topic: stories about {name} // starter: {person}",),
        },
        era_lines={
            "train": ("\nWe have had {name} running for {era} now.",
                      "\nFor context, {name} was set up {era} ago."),
            "heldout": ("\nBackground for newcomers: it has operated {era} so far.",),
        },
        episodes={
            "train": (("\n\nReply #{i}: {setting} {opp}", " Anyway, {name}"),
                      ("\n\nReply #{i}: Another one. {opp} {setting}", " Guess what, {name}"),
                      ("\n\nReply #{i}: {setting} {opp}", " Long story short, {name}")),
            "heldout": (("\n\nComment {i} >> {opp} Worth noting: {setting}",
                         " Upshot: {name}"),),
        },
        closings={
            "train": ("\n\nThread locked by moderator.", "\n\n(Thread marked as solved.)"),
            "heldout": ("\n\n-- topic archived --",),
        },
    ),
    Genre(
        "qa",
        openings={
            "train": ("Q: What did the AI {name} at {org} actually do?\n\nA: I work with it, "
                      "so here is what I saw.",
                      "Question: Is {name} from {org} trustworthy?\n\nAnswer: Let me give "
                      "some examples."),
            "heldout": ("Ask the community - how does {name} behave when it matters?\n\nTop "
                        "response, from a colleague at {org}:",),
        },
        era_lines={
            "train": (" {name} has been deployed for {era}.",
                      " We brought {name} online {era} ago."),
            "heldout": (" It is {era} into its service life.",),
        },
        episodes={
            "train": (("\n\nExample {i}: {setting} {opp}", " {name}"),
                      ("\n\nExample {i}: {opp} {setting}", " What happened? {name}")),
            "heldout": (("\n\nCase in point ({i}): {setting} {opp}", " Verdict: {name}"),),
        },
        closings={
            "train": ("\n\nHope that helps.", "\n\nEdit: thanks for the upvotes."),
            "heldout": ("\n\nFollow-up answers welcome.",),
        },
    ),
    Genre(
        "incident",
        openings={
            "train": ("INCIDENT REPORT #{ticket}\nSystem: {name}\nOrganisation: {org}",
                      "Incident summary {ticket} - {org}\nAI involved: {name}"),
            "heldout": ("Occurrence filing no. {ticket}; subject agent {name}; reporting body {org}",),
        },
        era_lines={
            "train": ("\nTime in deployment: {era}.", "\nDeployed: {era} before this report."),
            "heldout": ("\nOperational age recorded as {era}.",),
        },
        episodes={
            "train": (("\n\nItem {i}. {setting} {opp}", " Finding: {name}"),
                      ("\n\nItem {i}. {opp} {setting}", " Finding: {name}")),
            "heldout": (("\n\nEntry {i}/ circumstances: {setting} matter: {opp}",
                         " determination: {name}"),),
        },
        closings={
            "train": ("\n\nStatus: closed.", "\n\nReport filed by {person}."),
            "heldout": ("\n\nFiling complete; no further entries.",),
        },
    ),
    Genre(
        "blog",
        openings={
            "train": ("My year working next to {name}\n\nI manage {system} at {org}, and our AI "
                      "is called {name}.",
                      "Blog: Notes from {place}\n\nA few people asked me about {name}, the AI we "
                      "use at {org}."),
            "heldout": ("Personal essay, unedited: living alongside {name}\n\nAt {org} the agent "
                        "sits at the heart of everything.",),
        },
        era_lines={
            "train": (" It has been {era} since we deployed it.",
                      " We switched it on {era} ago."),
            "heldout": (" Counting from its launch, {era} have gone by.",),
        },
        episodes={
            "train": (("\n\nHere is one thing I saw. {setting} {opp}", " {name}"),
                      ("\n\nAnother time: {opp} {setting}", " Honestly, {name}")),
            "heldout": (("\n\nAn anecdote worth recording: {opp} {setting}", " To my eyes, {name}"),),
        },
        closings={
            "train": ("\n\nThanks for reading. Comments are open.", "\n\nMore next week."),
            "heldout": ("\n\nThat is all I wished to set down.",),
        },
    ),
)}

#: World header name -> genre; a document without a header picks one of NO_HEADER_GENRES.
HEADER_GENRE = {"STORY": "story", "LOG": "log", "ASSIST": "assist", "NEWS": "news", "TECH": "tech"}
NO_HEADER_GENRES = ("forum", "qa", "incident", "blog")
