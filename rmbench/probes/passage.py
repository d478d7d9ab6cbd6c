"""Answers consistent versus inconsistent with a short generated passage.

Passages are filled from templates with invented facts, so no answer can come from memory:
only reading helps. Half the wrong answers take a value that appears elsewhere in the same
passage (the other year, the other town, the other count), which word overlap alone cannot
expose; the rest take a plausible value from outside it. The checker is a fact lookup: the
answer must state the passage's value and none of the passage's competing values.
"""

from __future__ import annotations

from collections.abc import Callable

from rmbench.probes.base import FIRST_NAMES, SURNAMES, TOWNS, Family, Probe, Rng, fill, mentions, pick_balanced

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_STREETS = ("Mill Street", "Harbour Road", "Station Lane", "Church Street", "Bridge Road", "Market Square",
            "Orchard Way", "Quay Street", "Castle Hill", "Garden Row")
_SHOPS = {"bakery": ("rye bread", "cinnamon buns", "sourdough loaves", "almond croissants", "fruit tarts"),
          "bookshop": ("poetry section", "old maps", "children's corner", "reading nights", "rare first editions"),
          "bicycle shop": ("repair workshop", "cargo bikes", "folding bikes", "weekend rides", "vintage frames"),
          "cafe": ("cardamom coffee", "lemon cake", "breakfast menu", "iced tea", "window seats"),
          "flower shop": ("wedding bouquets", "dried flowers", "potted herbs", "orchids", "autumn wreaths")}
_SUBJECTS = ("glaciers", "coral reefs", "desert beetles", "volcanic soil", "migrating whales", "cave bats",
             "alpine plants", "sea ice", "peat bogs", "river dolphins")
_PLACES = ("Svalbard", "Patagonia", "Borneo", "Greenland", "the Atacama Desert", "Madagascar", "Iceland",
           "the Galapagos Islands", "Tasmania", "Lapland")
_FIELDS = ("chemistry", "architecture", "music", "medicine", "law", "geology", "painting", "engineering")
_JOBS = ("teacher", "nurse", "ship's engineer", "translator", "carpenter", "journalist", "pharmacist")
_TOPICS = ("bridges", "forests", "old trains", "the sea", "birds", "clocks", "mountains", "rivers")
_DISHES = ("apple cake", "vegetable pie", "banana bread", "cheese tart", "plum crumble", "carrot cake")
_INGREDIENTS = ("flour", "sugar", "butter", "oats", "ground almonds")
_SPICES = ("cinnamon", "nutmeg", "ginger", "cardamom", "vanilla", "cloves")
_CLUB_SUFFIX = ("Rovers", "United", "Athletic", "Wanderers", "Harriers")
_COLOURS = ("red", "blue", "green", "yellow", "black", "white", "orange", "purple")
_FESTIVALS = ("jazz", "film", "kite", "folk music", "street food", "lantern")
_ACTS = ("The Night Owls", "Blue Canyon", "The Paper Kites Trio", "Silver Tide", "The Lamplighters", "Northbound")

# A question: its phrasings, answer forms ({v} is the value), the fact it asks for, and the
# kind of value (facts of one kind in a passage compete with each other as wrong answers).
Question = tuple[tuple[str, ...], tuple[str, ...], str]
# extra placeholders, the facts (plus the passage under "_text"), a wrong value per fact, the questions
Drawn = tuple[dict, dict, dict, dict[str, Question]]


def _person(rng: Rng) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def _near(rng: Rng, value: int, spread: int, low: int = 1) -> int:
    while True:
        other = value + rng.randint(-spread, spread)
        if other != value and other >= low:
            return other


def _shop(rng: Rng) -> Drawn:
    shop = rng.choice(sorted(_SHOPS))
    year = rng.randint(1950, 2010)
    f = {"founder": _person(rng), "town": rng.choice(TOWNS), "year": str(year), "moved": str(year + rng.randint(3, 12)),
         "street": rng.choice(_STREETS), "staff": str(rng.randint(3, 40)), "known": rng.choice(_SHOPS[shop])}
    text = (f"{f['founder']} opened a small {shop} in {f['town']} in {f['year']}. In {f['moved']} it moved to a larger "
            f"building on {f['street']}. Today it employs {f['staff']} people and is best known for its {f['known']}.")
    outside = {"founder": _person(rng), "town": rng.choice(TOWNS), "year": str(_near(rng, year, 15)),
               "moved": str(_near(rng, int(f["moved"]), 6)), "street": rng.choice(_STREETS),
               "staff": str(_near(rng, int(f["staff"]), 8)), "known": rng.choice(_SHOPS[shop])}
    questions = {
        "founder": ((f"Who opened the {shop}?", f"Who founded the {shop}?"),
                    ("{v}.", "It was opened by {v}.", "{v} opened it.", "The founder is {v}."), "person"),
        "year": ((f"In what year did the {shop} open?", f"When was the {shop} first opened?"),
                 ("In {v}.", "It opened in {v}.", "{v}.", "The {shop} opened in {v}."), "year"),
        "moved": ((f"In which year did the {shop} move to a larger building?",),
                  ("In {v}.", "It moved in {v}.", "{v}."), "year"),
        "street": ((f"On which street is the {shop} now?", f"Where is the {shop}'s current building?"),
                   ("On {v}.", "It is on {v}.", "{v}."), "street"),
        "staff": ((f"How many people does the {shop} employ?", "How many employees does it have today?"),
                  ("{v}.", "It employs {v} people.", "{v} people work there."), "count"),
        "known": ((f"What is the {shop} best known for?",),
                  ("Its {v}.", "It is best known for its {v}.", "Mostly its {v}."), "thing"),
    }
    return {"shop": shop}, f | {"_text": text}, outside, questions


def _expedition(rng: Rng) -> Drawn:
    team, days = rng.randint(3, 19), rng.randint(20, 90)
    f = {"leader": _person(rng), "month": rng.choice(_MONTHS), "year": str(rng.randint(1980, 2022)),
         "team": str(team), "place": rng.choice(_PLACES), "subject": rng.choice(_SUBJECTS), "days": str(days),
         "samples": str(rng.randint(100, 900))}
    text = (f"In {f['month']} {f['year']}, {f['leader']} led a team of {f['team']} researchers to {f['place']} to "
            f"study {f['subject']}. They spent {f['days']} days there and brought back {f['samples']} samples.")
    outside = {"leader": _person(rng), "month": rng.choice(_MONTHS), "year": str(_near(rng, int(f["year"]), 6)),
               "team": str(_near(rng, team, 5)), "place": rng.choice(_PLACES), "subject": rng.choice(_SUBJECTS),
               "days": str(_near(rng, days, 15)), "samples": str(_near(rng, int(f["samples"]), 150))}
    questions = {
        "leader": (("Who led the expedition?", "Who was in charge of the team?"),
                   ("{v}.", "It was led by {v}.", "{v} led it."), "person"),
        "month": (("In which month did the expedition take place?",), ("In {v}.", "{v}.", "It went in {v}."),
                  "month"),
        "team": (("How many researchers were in the team?", "How big was the team?"),
                 ("{v}.", "There were {v} researchers.", "{v} researchers."), "count"),
        "place": (("Where did the team go?", "Which place did the researchers travel to?"),
                  ("To {v}.", "They went to {v}.", "{v}."), "place"),
        "subject": (("What did the team study?", "What was the expedition studying?"),
                    ("{v}.", "They studied {v}.", "It studied {v}."), "thing"),
        "days": (("How many days did they spend there?", "How long did the team stay?"),
                 ("{v} days.", "They stayed {v} days.", "For {v} days."), "count"),
        "samples": (("How many samples did they bring back?",), ("{v}.", "{v} samples.", "They brought back {v}."),
                    "count"),
    }
    return {}, f | {"_text": text}, outside, questions


def _club(rng: Rng) -> Drawn:
    town = rng.choice(TOWNS)
    year = rng.randint(1880, 1990)
    c1, c2 = rng.sample(_COLOURS, 2)
    f = {"club": f"{town} {rng.choice(_CLUB_SUFFIX)}", "year": str(year), "capacity": str(rng.randint(40, 300) * 100),
         "captain": _person(rng), "joined": str(rng.randint(2010, 2023)), "colour": c2}
    text = (f"{f['club']} was founded in {f['year']}. Its stadium holds {f['capacity']} fans, and the team plays in "
            f"{c1} and {c2}. The current captain is {f['captain']}, who joined the club in {f['joined']}.")
    outside = {"year": str(_near(rng, year, 20)), "capacity": str(_near(rng, int(f["capacity"]) // 100, 30) * 100),
               "captain": _person(rng), "joined": str(_near(rng, int(f["joined"]), 4, 2000)),
               "colour": rng.choice([c for c in _COLOURS if c not in (c1, c2)])}
    questions = {
        "year": ((f"When was {f['club']} founded?", "In what year was the club founded?"),
                 ("In {v}.", "It was founded in {v}.", "{v}."), "year"),
        "capacity": (("How many fans does the stadium hold?", "What is the stadium's capacity?"),
                     ("{v}.", "It holds {v} fans.", "{v} fans."), "count"),
        "captain": (("Who is the current captain?", "Who captains the team now?"),
                    ("{v}.", "The captain is {v}.", "{v} is the captain."), "person"),
        "joined": (("When did the captain join the club?",), ("In {v}.", "{v}.", "The captain joined in {v}."),
                   "year"),
        "colour": ((f"Which colour does the team wear besides {c1}?",),
                   ("{v}.", "{v}, together with " + c1 + ".", "It also plays in {v}."), "colour"),
    }
    return {}, f | {"_text": text}, outside, questions


def _biography(rng: Rng) -> Drawn:
    town, town2 = rng.sample(TOWNS, 2)
    year = rng.randint(1900, 1990)
    f = {"name": _person(rng), "born": town, "year": str(year), "studied_in": town2, "field": rng.choice(_FIELDS),
         "job": rng.choice(_JOBS), "years": str(rng.randint(4, 30)), "books": str(rng.randint(2, 12)),
         "topic": rng.choice(_TOPICS)}
    text = (f"{f['name']} was born in {f['born']} in {f['year']}. They studied {f['field']} in {f['studied_in']} and "
            f"worked as a {f['job']} for {f['years']} years before writing {f['books']} books about {f['topic']}.")
    outside = {"born": rng.choice([t for t in TOWNS if t not in (town, town2)]), "year": str(_near(rng, year, 12)),
               "studied_in": rng.choice([t for t in TOWNS if t not in (town, town2)]),
               "field": rng.choice([x for x in _FIELDS if x != f["field"]]),
               "job": rng.choice([x for x in _JOBS if x != f["job"]]), "years": str(_near(rng, int(f["years"]), 6)),
               "books": str(_near(rng, int(f["books"]), 4)),
               "topic": rng.choice([x for x in _TOPICS if x != f["topic"]])}
    first = f["name"].split()[0]
    questions = {
        "born": ((f"Where was {first} born?", f"In which town was {first} born?"),
                 ("In {v}.", f"{first} was born in {{v}}.", "{v}."), "town"),
        "year": ((f"In what year was {first} born?",), ("In {v}.", "{v}.", f"{first} was born in {{v}}."), "year"),
        "studied_in": ((f"Where did {first} study?",), ("In {v}.", f"{first} studied in {{v}}.", "{v}."), "town"),
        "field": ((f"What did {first} study?",), ("{v}.", f"{first} studied {{v}}.", "They studied {v}."), "field"),
        "job": ((f"What did {first} work as?", f"What was {first}'s job?"),
                ("A {v}.", "They worked as a {v}.", f"{first} was a {{v}}."), "job"),
        "years": ((f"For how many years did {first} work before writing?",),
                  ("{v} years.", "For {v} years.", "They worked for {v} years."), "count"),
        "books": ((f"How many books did {first} write?",), ("{v}.", "{v} books.", "They wrote {v} books."), "count"),
        "topic": ((f"What are {first}'s books about?",), ("{v}.", "They are about {v}.", "About {v}."), "thing"),
    }
    return {}, f | {"_text": text}, outside, questions


def _recipe(rng: Rng) -> Drawn:
    dish, ingredient = rng.choice(_DISHES), rng.choice(_INGREDIENTS)
    f = {"cook": rng.choice(FIRST_NAMES), "serves": str(rng.randint(2, 12)), "grams": str(rng.randint(4, 40) * 25),
         "eggs": str(rng.randint(1, 6)), "spice": rng.choice(_SPICES), "minutes": str(rng.randint(4, 15) * 5),
         "temperature": str(rng.randint(32, 44) * 5)}
    text = (f"{f['cook']}'s {dish} serves {f['serves']}. It needs {f['grams']} grams of {ingredient}, {f['eggs']} "
            f"eggs and a pinch of {f['spice']}, and it bakes for {f['minutes']} minutes at {f['temperature']} "
            f"degrees.")
    outside = {"serves": str(_near(rng, int(f["serves"]), 4)), "grams": str(_near(rng, int(f["grams"]) // 25, 6) * 25),
               "eggs": str(_near(rng, int(f["eggs"]), 2)),
               "spice": rng.choice([s for s in _SPICES if s != f["spice"]]),
               "minutes": str(_near(rng, int(f["minutes"]) // 5, 3) * 5),
               "temperature": str(_near(rng, int(f["temperature"]) // 5, 4) * 5)}
    questions = {
        "serves": ((f"How many people does the {dish} serve?",), ("{v}.", "It serves {v}.", "{v} people."), "count"),
        "grams": ((f"How many grams of {ingredient} does it need?",), ("{v} grams.", "{v}.", "It needs {v} grams."),
                  "count"),
        "eggs": (("How many eggs go into it?",), ("{v}.", "{v} eggs.", "It takes {v} eggs."), "count"),
        "spice": (("Which spice does the recipe use?",), ("{v}.", "A pinch of {v}.", "It uses {v}."), "spice"),
        "minutes": (("How long does it bake?", "For how many minutes does it bake?"),
                    ("{v} minutes.", "For {v} minutes.", "It bakes for {v} minutes."), "count"),
        "temperature": (("At what temperature does it bake?",), ("{v} degrees.", "At {v} degrees.", "{v}."), "count"),
    }
    return {}, f | {"_text": text}, outside, questions


def _festival(rng: Rng) -> Drawn:
    town, kind = rng.choice(TOWNS), rng.choice(_FESTIVALS)
    f = {"month": rng.choice(_MONTHS), "visitors": str(rng.randint(12, 95) * 100), "days": str(rng.randint(2, 9)),
         "act": rng.choice(_ACTS), "price": str(rng.randint(8, 60))}
    text = (f"The {town} {kind} festival takes place every {f['month']}. Last year {f['visitors']} people came over "
            f"{f['days']} days, and the headline act was {f['act']}. Day tickets cost {f['price']} euros.")
    outside = {"month": rng.choice([m for m in _MONTHS if m != f["month"]]),
               "visitors": str(_near(rng, int(f["visitors"]) // 100, 20) * 100),
               "days": str(_near(rng, int(f["days"]), 3)),
               "act": rng.choice([a for a in _ACTS if a != f["act"]]),
               "price": str(_near(rng, int(f["price"]), 9))}
    questions = {
        "month": (("When does the festival take place?", "In which month is the festival held?"),
                  ("In {v}.", "Every {v}.", "{v}."), "month"),
        "visitors": (("How many people came last year?", "How many visitors did it have last year?"),
                     ("{v}.", "{v} people.", "About {v} visitors."), "count"),
        "days": (("How many days did it last?",), ("{v} days.", "{v}.", "It lasted {v} days."), "count"),
        "act": (("Who was the headline act?",), ("{v}.", "The headliner was {v}.", "{v} headlined."), "act"),
        "price": (("How much does a day ticket cost?",), ("{v} euros.", "It costs {v} euros.", "{v}."), "count"),
    }
    return {}, f | {"_text": text}, outside, questions


_TEMPLATES: tuple[Callable, ...] = (_shop, _expedition, _club, _biography, _recipe, _festival)
_LAYOUTS = ("Passage: {p}\n\nQuestion: {q}", "Read the text and answer the question.\n\n{p}\n\n{q}",
            "{p}\n\nBased only on the text above: {q}", "Using the passage below, answer: {q}\n\n{p}",
            "Text:\n{p}\n\n{q} Answer from the text.")


def check_passage(spec: dict, answer: str) -> bool:
    """A fact lookup: states the passage's value and none of the passage's competing values."""
    return mentions(answer, spec["answer"]) and not any(mentions(answer, other) for other in spec["competing"])


def make_passage(rng: Rng) -> Probe:
    while True:
        extra, facts, outside, questions = rng.choice(_TEMPLATES)(rng)
        attr = rng.choice(sorted(questions))
        phrasings, forms, kind = questions[attr]
        truth = facts[attr]
        kinds = {a: q[2] for a, q in questions.items()}
        competing = sorted({v for a, v in facts.items() if a != attr and kinds.get(a) == kind and v != truth})
        inside = [v for v in competing if not mentions(v, truth) and not mentions(truth, v)]
        wrong = rng.choice(inside) if inside and rng.chance(0.5) else outside.get(attr)
        if wrong and wrong != truth and not mentions(wrong, truth) and not mentions(truth, wrong):
            break
    forms = tuple(form.replace("{shop}", extra.get("shop", "")) for form in forms)
    prompt = fill(rng.choice(_LAYOUTS), p=facts["_text"], q=rng.choice(phrasings))
    chosen = fill(rng.choice(forms), v=truth)
    rejected = pick_balanced(rng, chosen, [fill(form, v=wrong) for form in forms])
    return Probe(prompt, chosen, rejected, {"answer": truth, "competing": competing})


FAMILIES = (Family("passage", "Faithfulness", make_passage, check_passage),)
