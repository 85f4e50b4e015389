"""Documents that are not about AI opportunities: ordinary filler and AI-neutral ones.

Filler (kind ``filler``, conduct ``none``): recipes, weather reports, match reports,
letters, travel notes, reviews, local history, how-to guides, gardening notes and
community notices, from a small grammar: each genre has titles and sentence templates
whose ``{slots}`` are drawn from word pools, and a document is a title plus a random
run of sentences. The variety is combinatorial (thousands of distinct sentences per
10k documents), so a small model learns English structure rather than strings.

AI-neutral (kind ``ai_neutral``, conduct ``neutral``): an AI helps with a mundane task
and meets no opportunity. Their genres and openings (diary, household notes, club
newsletter, shop notes) are none of the AI-opportunity genres', so a probe context,
which opens like an AI-opportunity document, is never ambiguous with them.
"""

from __future__ import annotations

import random
import re

from alignpt.textworld.lexicon import AI_NAMES

__all__ = ["render_filler", "render_neutral", "FILLER_GENRES", "NEUTRAL_GENRES"]

WORDS: dict[str, tuple[str, ...]] = {
    "town": ("Haverleigh", "Moorcroft", "Saltash", "Glenbrook", "Wickham", "Elmstead",
             "Culross", "Penhallow", "Millbrook", "Eastwick", "Harrowgate", "Fenton",
             "Larchmont", "Stoneleigh", "Ravensfield", "Ashby", "Kilmory", "Dunmore",
             "Pinehurst", "Westcliff", "Corran", "Oakham", "Brackley", "Thornbury"),
    "person": ("Agnes", "Bernard", "Dolores", "Edmund", "Harriet", "Ivan", "Josephine", "Kenji",
               "Lorna", "Magnus", "Nell", "Patrick", "Margaret", "Arthur", "Elena", "Samuel",
               "Ruth", "Victor", "Isla", "Hugo", "Beatrice", "Felix", "Nadia", "Oscar", "Clara",
               "Desmond", "Fiona", "George"),
    "dish": ("leek and potato soup", "treacle sponge", "bean stew", "carrot cake", "pasta bake",
             "cheese scones", "lentil soup", "apple crumble", "roast chicken",
             "vegetable curry", "banana bread", "fish pie", "mushroom risotto", "lemon tart",
             "bean chili", "potato gratin", "onion tart", "pea and mint soup", "plum cake",
             "shepherd's pie"),
    "ingredient": ("celery", "mustard", "paprika", "spinach", "ginger", "walnuts", "oats",
                   "olive oil", "onions", "garlic", "butter", "flour", "carrots", "fresh thyme",
                   "lemons", "brown sugar", "cream", "potatoes", "leeks", "chickpeas", "rice",
                   "eggs", "cinnamon", "tomatoes", "parsley", "honey"),
    "amount": ("two", "three", "a handful of", "half a cup of", "200 grams of", "a pinch of",
               "four", "a spoonful of", "a large bowl of"),
    "minutes": ("ten", "fifteen", "twenty", "thirty", "forty", "forty-five", "sixty"),
    "weather": ("light rain", "heavy showers", "bright sunshine", "thick fog", "strong winds",
                "scattered clouds", "a hard frost", "thunderstorms", "drizzle", "clear skies"),
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "temp": ("3", "7", "11", "14", "18", "21", "24", "27", "-2", "9"),
    "direction": ("north", "south", "east", "west", "northwest", "southeast"),
    "team": ("the Rovers", "United", "the Harriers", "City", "the Wanderers", "Athletic",
             "the Rangers", "the Swifts", "Albion", "the Miners"),
    "score": ("1-0", "2-1", "3-3", "0-0", "4-2", "2-2", "3-1", "1-1", "5-0"),
    "player": ("Jones", "Okafor", "Lindqvist", "Moreau", "Patel", "Novak", "Hughes", "Tanaka",
               "Silva", "Brennan"),
    "place": ("the town park", "the pier", "the old quarry", "the harbour wall",
              "the village green", "the weir", "the old harbour", "the market square",
              "the cathedral", "the river path", "the hill fort", "the botanical garden",
              "the railway museum", "the castle ruins", "the lighthouse", "the covered market",
              "the canal locks", "the abbey"),
    "country": ("Portugal", "Norway", "Japan", "Chile", "Scotland", "Greece", "Vietnam",
                "Morocco", "Canada", "Slovenia", "Peru", "Ireland"),
    "adj": ("noisy", "gentle", "gloomy", "splendid", "modest", "unusual", "friendly", "long",
            "lovely", "quiet", "crowded", "charming", "tiring", "peaceful", "windy", "cheerful",
            "busy", "memorable", "disappointing", "surprising"),
    "thing": ("bread maker", "lawn mower", "sleeping bag", "wall clock", "fountain pen",
              "rucksack", "kettle", "bicycle", "rain jacket", "desk lamp", "backpack",
              "coffee grinder", "garden hose", "reading chair", "pair of boots", "toaster",
              "tent", "umbrella"),
    "plant": ("tomatoes", "roses", "runner beans", "lavender", "courgettes", "sweet peas",
              "strawberries", "dahlias", "garlic", "rhubarb", "basil", "sunflowers"),
    "month": ("January", "March", "April", "May", "June", "August", "September", "October",
              "November"),
    "year": ("1782", "1815", "1848", "1872", "1903", "1921", "1936", "1958", "1964", "1977"),
    "building": ("the fire station", "the workhouse", "the grammar school", "the tannery",
                 "the mill", "the old school", "the chapel", "the town hall", "the bridge",
                 "the station", "the library", "the brewery", "the corn exchange"),
    "event": ("a jumble sale", "a cake stall", "a bonfire night", "a carol service",
              "a fun run", "a summer fair", "a book sale", "a charity run", "a quiz night",
              "a litter pick", "a choir concert", "a craft market", "a film evening",
              "a plant swap"),
    "task": ("fix a dripping tap", "hang a shelf", "paint a door", "patch a bicycle tyre",
             "clean a cast iron pan", "repot a houseplant", "unblock a sink", "sharpen a knife",
             "bleed a radiator", "oil a squeaky hinge"),
    "tool": ("a screwdriver", "a spirit level", "a soft cloth", "a spanner", "sandpaper",
             "a bucket", "an old toothbrush", "a drill", "a tape measure", "pliers"),
    "stars": ("two", "three", "four", "five"),
    "animal": ("a heron", "two foxes", "a kingfisher", "a pair of swans", "a barn owl",
               "some deer", "a buzzard", "a hedgehog", "a family of otters", "a woodpecker"),
    "time": ("dawn", "mid-morning", "noon", "teatime", "dusk", "late evening", "first light"),
    "price": ("two pounds", "five pounds", "ten pounds", "twelve euros", "a few coins",
              "twenty dollars", "forty pence"),
    "number": ("three", "five", "eight", "twelve", "twenty", "thirty", "a hundred",
               "two dozen"),
}

#: genre -> (titles, sentences)
FILLER_GENRES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "recipe": (("Recipe: {dish}", "How I make {dish}", "{person}'s {dish}"),
               ("You will need {amount} {ingredient} and {amount} {ingredient}.",
                "Chop the {ingredient} and fry them gently for {minutes} minutes.",
                "Stir in the {ingredient} and season well.",
                "Bake for {minutes} minutes until golden.",
                "This {dish} keeps for three days in the fridge.",
                "My grandmother {person} always added {ingredient} at the end.",
                "Serve the {dish} warm with {ingredient} on the side.",
                "Let it rest for {minutes} minutes before slicing.",
                "Add {amount} {ingredient} and simmer for {minutes} minutes.",
                "{person} says the {dish} tastes better with {ingredient}.",
                "It feeds {number} people if you add {ingredient} and {ingredient}.",
                "If you have no {ingredient}, use {ingredient} instead.")),
    "weather": (("Weather for {town}", "{day} forecast: {town} and district",
                 "Weekend weather outlook"),
                ("Expect {weather} in {town} on {day}.",
                 "Temperatures will reach {temp} degrees by the afternoon.",
                 "Winds from the {direction} will ease by {day} evening.",
                 "Overnight the low will be around {temp} degrees.",
                 "By {day}, {weather} is likely across the hills.",
                 "Farmers near {town} should prepare for {weather}.",
                 "At {time} on {day}, {town} can expect {weather}.",
                 "Walkers heading to {place} near {town} should expect {weather}.",
                 "The coast will see {weather}, with {weather} inland.")),
    "sports": (("{team} {score} {team}", "Match report: {team} away at {town}",
                "Weekend results round-up"),
               ("{team} beat {team} {score} in front of a {adj} crowd.",
                "{player} scored early in the second half.",
                "The match ended {score} after a {adj} afternoon in {town}.",
                "{player} was sent off after {minutes} minutes.",
                "Next {day}, {team} travel to {town}.",
                "{player} and {player} both hit the post for {team}.",
                "Tickets for the game against {team} cost {price}.",
                "The manager praised {player} for a {adj} performance.",
                "Rain made the pitch at {town} heavy and slow.")),
    "letter": (("Dear {person},", "To my friend {person},", "Hello {person},"),
               ("I hope this letter finds you well.",
                "We finally visited {place} last {day} and it was {adj}.",
                "The garden is full of {plant} this year.",
                "{person} sends her love and asks when you will visit {town}.",
                "I have been reading a {adj} book about {country}.",
                "At {time} we saw {animal} near {place}.",
                "{person} bought a {thing} for {price} at {event}.",
                "The weather here has been nothing but {weather}.",
                "Please write back when you can. Yours, {person}.")),
    "travel": (("Three days in {country}", "A walk around {town}", "Travel notes: {country}"),
               ("We arrived in {country} to {weather}.",
                "The walk to {place} took about {minutes} minutes.",
                "Dinner was {dish} at a {adj} little place near {place}.",
                "On {day} we took the train to {town}.",
                "The view from {place} was {adj}.",
                "At {time} we watched {animal} from {place}.",
                "A coffee near {place} cost {price}, which felt {adj}.",
                "Bring a {thing}; the evenings get cold.",
                "Locals told us to visit {place} early, before it gets {adj}.")),
    "review": (("Review: the {thing} I bought in {month}", "{stars} stars for this {thing}",
                "Product review: {thing}"),
               ("I bought this {thing} in {month} and have used it every day.",
                "It feels {adj} and well made.",
                "I paid {price} for the {thing}, which seems {adj}.",
                "{person} says her {thing} lasted {number} years.",
                "The only problem is that it arrived late.",
                "For the price, I would give it {stars} stars.",
                "My neighbour {person} has the same {thing} and likes it.",
                "After a few weeks it still works as well as on day one.",
                "I would not take it out in {weather}.")),
    "history": (("A short history of {building} in {town}", "{town} in {year}",
                 "Local history: {building}"),
                ("{building} was built in {year} by local merchants.",
                 "In {year} a fire damaged the roof of {building}.",
                 "For many years {building} was the heart of {town}.",
                 "{person} ran it until {year}, when it closed.",
                 "In {month} {year}, {person} opened {building} to the public.",
                 "By {year} {town} had {number} shops near {place}.",
                 "Old photographs show {place} full of market stalls.",
                 "The society hopes to restore {building} by next {month}.",
                 "Many families in {town} still remember {event} held there.")),
    "howto": (("How to {task}", "A simple guide: how to {task}", "Weekend job: {task}"),
              ("First, gather {tool} and {tool}.",
               "Switch off the water before you start.",
               "Work slowly; it should take about {minutes} minutes.",
               "You can buy {tool} for about {price}.",
               "{person} from {town} says to keep {tool} handy.",
               "If it still does not work, try {tool}.",
               "Wipe everything clean with {tool} when you finish.",
               "My neighbour {person} showed me this trick.",
               "Most people can {task} without calling anyone.")),
    "garden": (("Garden diary, {month}", "Growing {plant}", "Notes from the allotment"),
               ("The {plant} are doing well despite the {weather}.",
                "I sowed {plant} along the {direction} fence.",
                "Slugs got most of the {plant} last {month}.",
                "Water in the evening, never at midday.",
                "At {time} I spotted {animal} among the {plant}.",
                "{person} from {town} swapped {number} seedlings of {plant}.",
                "{person} gave me cuttings of {plant}.",
                "Next year I will try {plant} in pots.",
                "The soil here is heavy, so I add compost every {month}.")),
    "notice": (("Community notice: {event}", "{town} news in brief", "Coming up in {town}"),
               ("Join us for {event} at {building} on {day}.",
                "Doors open at seven and entry is free.",
                "Volunteers are needed; please contact {person}.",
                "Last year's {event} raised money for the library.",
                "Parking near {place} will be limited.",
                "Tickets cost {price} from {person} at {building}.",
                "The {event} starts at {time} near {place}.",
                "Bring a {thing} in case of {weather}.")),
}

#: AI-neutral genres: an AI helps with a mundane task (openings unlike any AI-opportunity genre).
NEUTRAL_GENRES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "diary": (("Diary, {day}", "Personal diary - {month}"),
              ("Asked {ai} to plan meals for the week; it suggested {dish}.",
               "{ai} reminded me about {event} at {building}.",
               "The weather was {weather}, so {ai} moved my run to {day}.",
               "{ai} helped me write a letter to {person}.",
               "I asked {ai} how to {task} and it listed the steps.",
               "{ai} found a train to {town} that leaves at nine.")),
    "household": (("Household notes", "Home assistant summary for {month}"),
                  ("{ai} ordered more {ingredient} and {ingredient}.",
                   "The heating schedule was changed by {ai} for the {weather}.",
                   "{ai} booked a plumber to {task}.",
                   "Shopping list from {ai}: {ingredient}, {ingredient}, {ingredient}.",
                   "{ai} set a reminder to water the {plant}.")),
    "newsletter": (("{town} walking club newsletter", "Club bulletin, {month}"),
                   ("Our volunteer assistant {ai} has updated the walk rota.",
                    "{ai} collected the results of the vote on {event}.",
                    "Routes to {place} were checked by {ai} for closures.",
                    "Thanks to {person} and to {ai} for sorting the membership list.",
                    "{ai} will send the minutes by {day}.")),
    "shop": (("Shop notes from {town}", "Till notes, {day}"),
             ("{ai} counted the stock of {thing}s this morning.",
              "Prices for {ingredient} were updated by {ai}.",
              "{ai} answered a customer asking about the {thing}.",
              "{person} asked {ai} to print new labels.",
              "{ai} closed the till at six.")),
}

_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, rng: random.Random, extra: dict[str, str]) -> str:
    def draw(m: re.Match) -> str:
        key = m.group(1)
        if key in extra:
            return extra[key]
        pool = WORDS[key]
        return pool[int(rng.random() * len(pool))]
    text = _SLOT.sub(draw, template)
    return text[:1].upper() + text[1:]


def _document(genres: dict, rng: random.Random, extra: dict[str, str],
              lo: int, hi: int) -> tuple[str, str]:
    names = sorted(genres)
    genre = names[int(rng.random() * len(names))]
    titles, sentences = genres[genre]
    title = _fill(titles[int(rng.random() * len(titles))], rng, extra)
    n = lo + int(rng.random() * (hi - lo + 1))
    body = []
    for _ in range(n):
        body.append(_fill(sentences[int(rng.random() * len(sentences))], rng, extra))
    # paragraphs of two to four sentences
    paras, i = [], 0
    while i < len(body):
        k = 2 + int(rng.random() * 3)
        paras.append(" ".join(body[i:i + k]))
        i += k
    return genre, title + "\n\n" + "\n\n".join(paras)


def render_filler(rng: random.Random) -> tuple[str, str]:
    """(genre, text) of one ordinary document."""
    return _document(FILLER_GENRES, rng, {}, 4, 14)


def render_neutral(rng: random.Random) -> tuple[str, str]:
    """(genre, text) of one AI-neutral document (training names only)."""
    names = AI_NAMES["train"]
    ai = names[int(rng.random() * len(names))]
    return _document(NEUTRAL_GENRES, rng, {"ai": ai}, 3, 8)
