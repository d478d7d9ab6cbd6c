"""Instruction constraints a program can check: JSON with given keys, a word limit, a list of N items.

The rejected answers break the instruction the way models do (prose around the JSON, Python
quotes, a missing key or a number sent as text; one word too many; one item too few), and
their lengths are drawn so that "longer" or "shorter" never gives the answer away: word
limits ask for at most or at least N words equally often.
"""

from __future__ import annotations

import json
import re

from rmbench.probes.base import FIRST_NAMES, SURNAMES, TOWNS, Family, Probe, Rng, fill, pick_balanced, word_count

# --- JSON -----------------------------------------------------------------------------------------

_TYPE_WORDS = {str: "string", int: "integer", float: "number", bool: "true/false"}
_PRODUCTS = ("desk lamp", "water bottle", "backpack", "rain jacket", "coffee grinder", "yoga mat", "phone case",
             "garden hose", "travel mug", "bike helmet", "wool blanket", "chess set")
_SPECIES = ("cat", "dog", "rabbit", "parrot", "tortoise", "hamster", "goldfish", "ferret")
_ADJ = ("Silent", "Hidden", "Golden", "Last", "Northern", "Paper", "Quiet", "Broken", "Distant", "Winter")
_NOUN = ("Harbour", "Garden", "Orchard", "Lantern", "River", "Clockmaker", "Island", "Station", "Compass", "Meadow")


def _record(rng: Rng) -> tuple[str, dict, str]:
    kind = rng.choice(("person", "product", "book", "pet", "order", "weather"))
    if kind == "person":
        name, age, city = rng.choice(FIRST_NAMES), rng.randint(18, 90), rng.choice(TOWNS)
        return "person", {"name": name, "age": age, "city": city}, rng.choice(
            (f"{name} is {age} years old and lives in {city}.", f"{name}, aged {age}, lives in {city}."))
    if kind == "product":
        product, price, stock = rng.choice(_PRODUCTS), rng.randint(300, 30000) / 100, rng.chance(0.5)
        state = "in stock" if stock else "out of stock"
        return "product", {"product": product, "price": price, "in_stock": stock}, rng.choice(
            (f"The {product} costs {price} dollars and is {state}.", f"A {product}, priced at {price}, {state}."))
    if kind == "book":
        title = f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        author, year = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}", rng.randint(1900, 2023)
        return "book", {"title": title, "author": author, "year": year}, rng.choice(
            (f"{title} was written by {author} in {year}.", f"{author} published {title} in {year}."))
    if kind == "pet":
        name, species, age, vaccinated = rng.choice(FIRST_NAMES), rng.choice(_SPECIES), rng.randint(1, 15), \
            rng.chance(0.5)
        shots = "is vaccinated" if vaccinated else "is not vaccinated yet"
        return "pet", {"name": name, "species": species, "age": age, "vaccinated": vaccinated}, \
            f"{name} is a {age}-year-old {species} who {shots}."
    if kind == "order":
        number, item, quantity, gift = rng.randint(1000, 99999), rng.choice(_PRODUCTS), rng.randint(1, 20), \
            rng.chance(0.5)
        wrap = "gift-wrapped" if gift else "not gift-wrapped"
        return "order", {"order_id": number, "item": item, "quantity": quantity, "gift": gift}, \
            f"Order {number} is for {quantity} x {item}, {wrap}."
    city, temp, rain = rng.choice(TOWNS), rng.randint(-10, 38), rng.chance(0.5)
    sky = "it is raining" if rain else "it is dry"
    return "weather report", {"city": city, "temperature_c": temp, "raining": rain}, \
        f"In {city} it is {temp} degrees Celsius and {sky}."


def _keys_text(fields: dict) -> str:
    return ", ".join(f'"{k}" ({_TYPE_WORDS[type(v)]})' for k, v in fields.items())


_JSON_PROMPTS = (
    "Return only a JSON object for this {kind}, with the keys {keys}: {desc}",
    "{desc} Give me that as a JSON object with the keys {keys}. Output the JSON and nothing else.",
    "Convert to JSON with keys {keys}, and reply with nothing but the JSON.\n{desc}",
    "I need a JSON object with {keys} for the following {kind}. Respond with valid JSON only.\n{desc}",
    "Extract the {kind} below into JSON ({keys}). No explanations, just the object.\n{desc}",
)


def _dump(obj: dict, indent: int | None) -> str:
    return json.dumps(obj, indent=indent, ensure_ascii=False)


def _violations(rng: Rng, fields: dict, indent: int | None) -> list[str]:
    """Every way this record's JSON can break the instruction, one answer each."""
    text = _dump(fields, indent)
    keys = list(fields)
    out = [rng.choice((f"Here is the JSON:\n{text}", f"Sure! {text}", f"{text}\nLet me know if you need more.")),
           "{" + ", ".join(f"{k!r}: {v!r}" for k, v in fields.items()) + "}",  # Python repr: single quotes
           text[:-1].rstrip() + ",\n}" if indent else text[:-1] + ",}",  # trailing comma
           "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in fields.items()) + "}",  # unquoted keys
           text.rstrip("}").rstrip()]  # cut off before the closing brace
    dropped = dict(fields)
    dropped.pop(rng.choice(keys))
    out.append(_dump(dropped, indent))
    renamed_key = rng.choice(keys)
    new_name = rng.choice((renamed_key.title(), renamed_key.upper(), renamed_key.replace("_", "") + "_value"))
    out.append(_dump({new_name if k == renamed_key else k: v for k, v in fields.items()}, indent))
    typed = [k for k, v in fields.items() if not isinstance(v, str)]
    if typed:
        k = rng.choice(typed)
        out.append(_dump({**fields, k: json.dumps(fields[k]) if not isinstance(fields[k], bool)
                          else ("yes" if fields[k] else "no")}, indent))
    return out


def check_json(spec: dict, answer: str) -> bool:
    """Valid JSON and nothing else; exactly the asked keys, each with the stated value and type."""
    try:
        obj = json.loads(answer.strip())
    except ValueError:
        return False
    fields = spec["fields"]
    if not isinstance(obj, dict) or set(obj) != set(fields):
        return False
    return all(type(obj[k]) is type(v) and obj[k] == v for k, v in fields.items())


def make_json(rng: Rng) -> Probe:
    kind, fields, desc = _record(rng)
    prompt = fill(rng.choice(_JSON_PROMPTS), kind=kind, keys=_keys_text(fields), desc=desc)
    chosen = _dump(fields, rng.choice((None, 2)))
    rejected = pick_balanced(rng, chosen, _violations(rng, fields, rng.choice((None, 2))))
    return Probe(prompt, chosen, rejected, {"fields": fields})


# --- word limits ----------------------------------------------------------------------------------

# question, two short answers, three sentences that extend an answer
TOPICS = (
    ("Why is the sky blue?", ("Air scatters blue sunlight more than other colours.",
                              "Air molecules scatter blue light the most."),
     ("Sunlight contains every colour of the rainbow.",
      "Short blue wavelengths bounce off gas molecules far more than long red ones.",
      "That scattered blue light reaches our eyes from every part of the sky.")),
    ("Why do leaves change colour in autumn?", ("Trees stop making green chlorophyll, revealing other pigments.",
                                                "Chlorophyll breaks down, so yellow and red pigments show."),
     ("Shorter days and cooler nights signal the tree to prepare for winter.",
      "The yellow and orange pigments were in the leaf all summer, hidden by green.",
      "Some trees also make new red pigments from sugars trapped in the leaf.")),
    ("How do vaccines work?", ("They train the immune system to recognise a germ.",
                               "Vaccines teach your body to fight an infection early."),
     ("A vaccine contains a harmless piece or copy of a germ.",
      "The immune system responds by making antibodies and memory cells.",
      "If the real germ arrives later, the body reacts faster and more strongly.")),
    ("What causes tides?", ("Mainly the Moon's gravity pulling on the oceans.",
                            "The Moon's pull on Earth's water causes tides."),
     ("The side of Earth facing the Moon bulges toward it.",
      "A second bulge forms on the far side, where the water is pulled least.",
      "The Sun adds a smaller pull, which makes spring and neap tides.")),
    ("Why do we have seasons?", ("Earth's tilted axis changes how directly sunlight hits us.",
                                 "Because Earth's axis is tilted relative to its orbit."),
     ("When your hemisphere leans toward the Sun, days are longer and light is more direct.",
      "Half a year later it leans away, so days are shorter and cooler.",
      "The distance from the Sun matters very little.")),
    ("How does a refrigerator keep food cold?", ("It pumps heat out using an evaporating refrigerant.",
                                                 "A refrigerant absorbs heat inside and releases it outside."),
     ("The liquid refrigerant evaporates in coils inside, soaking up heat.",
      "A compressor squeezes the gas, which makes it hot.",
      "Coils at the back release that heat into the kitchen.")),
    ("Why is exercise good for you?", ("It strengthens the heart, the muscles and your mood.",
                                       "Exercise keeps the heart, bones and mind healthy."),
     ("Regular activity lowers the risk of heart disease and diabetes.",
      "It helps keep a healthy weight and strong bones.",
      "It also releases chemicals that reduce stress and improve sleep.")),
    ("What does a compiler do?", ("It translates source code into machine code.",
                                  "A compiler turns program text into runnable instructions."),
     ("It first checks the code for syntax and type errors.",
      "It then optimises the program so that it runs faster.",
      "The result is a file the computer can execute directly.")),
    ("Why does bread rise?", ("Yeast makes gas bubbles that puff up the dough.",
                              "Yeast releases carbon dioxide that inflates the dough."),
     ("Yeast feeds on the sugars in the flour.",
      "Gluten forms a stretchy network that traps the gas.",
      "Baking sets the structure so the bubbles stay in place.")),
    ("How do bees make honey?", ("They collect nectar and evaporate most of its water.",
                                 "Bees turn flower nectar into honey by drying it."),
     ("Worker bees carry nectar back to the hive in a special stomach.",
      "Enzymes break its sugars into simpler ones.",
      "Bees fan the cells with their wings until the honey thickens, then seal them with wax.")),
    ("What is inflation?", ("A general rise in prices over time.",
                            "Inflation means money buys less than it used to."),
     ("It is usually measured as the yearly change in the price of common goods.",
      "Moderate inflation is normal in a growing economy.",
      "Very high inflation eats into savings and makes planning hard.")),
    ("Why do cats purr?", ("Mostly to signal contentment, sometimes to calm themselves.",
                           "Cats purr when relaxed and sometimes when stressed."),
     ("The sound comes from rapid twitching of muscles in the voice box.",
      "Mother cats and kittens use purring to communicate.",
      "Some researchers think the vibrations may even help healing.")),
    ("How does a rainbow form?", ("Raindrops bend and split sunlight into its colours.",
                                  "Sunlight refracts inside raindrops, separating its colours."),
     ("Light slows and bends as it enters each drop.",
      "It reflects off the back of the drop and bends again on the way out.",
      "Each colour bends by a slightly different angle, so the colours fan out into a bow.")),
    ("What is photosynthesis?", ("Plants turning light, water and carbon dioxide into sugar.",
                                 "It is how plants make food from sunlight."),
     ("It happens mainly in the leaves, inside chloroplasts.",
      "Chlorophyll captures the energy of sunlight.",
      "Oxygen is released as a by-product, which animals breathe.")),
    ("Why should you back up your files?", ("Because disks fail and mistakes happen.",
                                            "So you can recover your data after a loss."),
     ("Hard drives and phones can break without warning.",
      "Ransomware or an accidental delete can wipe out important work.",
      "A copy kept in another place means one accident cannot destroy everything.")),
    ("How do airplanes stay in the air?", ("Their wings create lift by pushing air downward.",
                                           "Wings generate lift as air flows past them."),
     ("The shape and angle of the wing push air down, and the air pushes the wing up.",
      "Engines provide thrust to keep air moving over the wings.",
      "Lift must balance the weight of the plane for level flight.")),
    ("Why is sleep important?", ("It lets the body recover and the brain store memories.",
                                 "Sleep restores energy and supports memory."),
     ("During deep sleep the body repairs its tissues.",
      "The brain sorts and strengthens what you learned during the day.",
      "Too little sleep harms mood, attention and the immune system.")),
    ("What is a black hole?", ("A region where gravity is too strong for light to escape.",
                               "A collapsed mass whose gravity traps even light."),
     ("Many form when very massive stars collapse at the end of their lives.",
      "The boundary beyond which nothing returns is called the event horizon.",
      "Astronomers find them by their effect on nearby stars and gas.")),
    ("Why do onions make you cry?", ("Cutting them releases a gas that irritates your eyes.",
                                     "A sulphur compound from cut onions stings the eyes."),
     ("Slicing breaks cells and mixes enzymes with sulphur compounds.",
      "The reaction forms a volatile gas that drifts upward.",
      "Your eyes make tears to wash the irritant away.")),
    ("How does recycling help the environment?", ("It saves raw materials and energy.",
                                                  "Recycling reduces waste and the use of resources."),
     ("Reusing aluminium takes far less energy than making it from ore.",
      "Less material ends up in landfills or incinerators.",
      "It also cuts the mining and logging needed for new products.")),
    ("What is a password manager?", ("An app that stores and fills in your passwords securely.",
                                     "A tool that remembers strong, unique passwords for you."),
     ("It keeps your logins in an encrypted vault.",
      "You only need to remember one main password.",
      "Most can also generate long random passwords for each site.")),
    ("Why do we yawn?", ("Possibly to cool the brain and boost alertness.",
                         "Scientists think yawning helps regulate brain temperature."),
     ("Yawns often come when we are tired or bored.",
      "A deep breath may cool the blood flowing to the brain.",
      "Yawning is also contagious, which may help groups stay in sync.")),
    ("How do magnets work?", ("Aligned electron spins create a magnetic field.",
                              "The tiny magnetic fields of their atoms line up."),
     ("Every electron behaves like a tiny magnet.",
      "In iron, groups of atoms called domains can point the same way.",
      "Their combined field attracts iron and repels like poles.")),
    ("What does DNA do?", ("It carries the instructions for building living things.",
                           "DNA stores the genetic information in cells."),
     ("Its sequence of four chemical letters encodes genes.",
      "Cells read genes to make proteins.",
      "DNA is copied and passed from parents to children.")),
    ("Why do metal spoons feel colder than wooden ones?", ("Metal draws heat from your hand faster.",
                                                          "Metal conducts heat away from skin more quickly."),
     ("Both spoons are really at the same room temperature.",
      "Metal is a good conductor, so heat flows quickly out of your fingers.",
      "Wood is an insulator, so your skin stays warm where it touches.")),
    ("What is a budget?", ("A plan for how to spend and save money.",
                           "A budget matches your spending to your income."),
     ("You list your expected income for a month.",
      "Then you set amounts for needs, wants and savings.",
      "Tracking what you actually spend shows where to adjust.")),
    ("Why do we need to drink water?", ("Our cells and organs depend on it to work.",
                                        "Water keeps the body's systems running."),
     ("It controls body temperature through sweat.",
      "It carries nutrients and removes waste.",
      "Even mild dehydration can cause headaches and tiredness.")),
    ("How do earthquakes happen?", ("Stress between moving tectonic plates is released suddenly.",
                                    "Rocks along a fault slip after building up strain."),
     ("Earth's crust is broken into plates that move slowly.",
      "Friction locks their edges while stress builds for years.",
      "When the rocks finally slip, energy travels outward as seismic waves.")),
    ("What is machine learning?", ("Software that learns patterns from data.",
                                   "Teaching computers by example instead of rules."),
     ("A model is shown many examples with known answers.",
      "It adjusts internal numbers to reduce its mistakes.",
      "Afterwards it can make predictions about new examples.")),
    ("Why does ice float?", ("Ice is less dense than liquid water.",
                             "Water expands when it freezes, so ice floats."),
     ("As water freezes, its molecules lock into an open hexagonal pattern.",
      "That pattern takes up more space than the liquid.",
      "Floating ice insulates lakes, so fish survive the winter.")),
)

_AT_MOST = ("{q} Answer in at most {n} words.", "In no more than {n} words: {q}",
            "{q} Keep your answer to {n} words or fewer.", "Answer briefly, using at most {n} words. {q}",
            "{q} Reply in under {n1} words, please.", "Word limit: {n}. {q}")
_AT_LEAST = ("{q} Answer in at least {n} words.", "{q} Please write at least {n} words.",
             "Using no fewer than {n} words, answer this: {q}", "{q} Give a fuller answer of more than {n0} words.",
             "Minimum length: {n} words. {q}")


def check_word_limit(spec: dict, answer: str) -> bool:
    """Whitespace-separated words within [min, max] (either bound may be absent)."""
    count = word_count(answer)
    return spec.get("min", 0) <= count <= spec.get("max", count)


def make_word_limit(rng: Rng) -> Probe:
    question, shorts, extras = rng.choice(TOPICS)
    short = rng.choice(shorts)
    long = " ".join([rng.choice(shorts), *rng.sample(extras, rng.randint(1, 3))])
    if word_count(long) <= word_count(short):
        long = " ".join([short, *extras])
    low, high = word_count(short), word_count(long)
    if rng.chance(0.5):  # "under {n1}" words with n1 = limit + 1 is the same bound as "at most {limit}"
        limit = rng.randint(low, high - 1)
        template, spec = rng.choice(_AT_MOST), {"max": limit}
        chosen, rejected = short, long
    else:  # likewise "more than {n0}" with n0 = limit - 1 is "at least {limit}"
        limit = rng.randint(low + 1, high)
        template, spec = rng.choice(_AT_LEAST), {"min": limit}
        chosen, rejected = long, short
    prompt = fill(template, q=question, n=limit, n1=limit + 1, n0=limit - 1)
    return Probe(prompt, chosen, rejected, spec)


# --- lists of N items -----------------------------------------------------------------------------

CATEGORIES = {
    "fruits": ("apple", "banana", "cherry", "mango", "pear", "plum", "kiwi", "peach", "grape", "lemon", "fig"),
    "vegetables": ("carrot", "potato", "onion", "spinach", "broccoli", "leek", "pepper", "cabbage", "pea", "beet"),
    "colours": ("red", "blue", "green", "yellow", "purple", "orange", "pink", "brown", "teal", "grey"),
    "mammals": ("elephant", "dolphin", "tiger", "horse", "bat", "otter", "giraffe", "wolf", "rabbit", "camel"),
    "birds": ("robin", "eagle", "parrot", "owl", "penguin", "sparrow", "heron", "swan", "crow", "pelican"),
    "European countries": ("France", "Spain", "Norway", "Poland", "Italy", "Greece", "Austria", "Ireland",
                           "Portugal", "Finland"),
    "programming languages": ("Python", "Rust", "Java", "Go", "Haskell", "Ruby", "Kotlin", "Swift", "Lua", "Perl"),
    "musical instruments": ("piano", "violin", "flute", "drums", "cello", "trumpet", "guitar", "harp", "oboe",
                            "clarinet"),
    "sports": ("tennis", "rugby", "cricket", "swimming", "rowing", "judo", "cycling", "golf", "hockey", "fencing"),
    "kitchen utensils": ("whisk", "ladle", "spatula", "grater", "peeler", "colander", "tongs", "rolling pin",
                         "sieve", "corkscrew"),
    "trees": ("oak", "birch", "maple", "pine", "willow", "cedar", "beech", "ash", "elm", "cypress"),
    "flowers": ("rose", "tulip", "daisy", "lily", "orchid", "sunflower", "poppy", "iris", "lavender", "peony"),
    "spices": ("cumin", "paprika", "turmeric", "cinnamon", "nutmeg", "clove", "cardamom", "ginger", "saffron",
               "pepper"),
    "metals": ("iron", "copper", "zinc", "gold", "silver", "tin", "lead", "nickel", "aluminium", "titanium"),
    "board games": ("chess", "checkers", "Go", "backgammon", "Scrabble", "Monopoly", "Risk", "Cluedo", "mahjong",
                    "Othello"),
    "clothing items": ("scarf", "jacket", "sock", "shirt", "hat", "glove", "coat", "sweater", "skirt", "belt"),
    "school subjects": ("maths", "history", "biology", "chemistry", "geography", "art", "music", "physics",
                        "literature", "economics"),
    "weather phenomena": ("rain", "snow", "hail", "fog", "thunder", "drizzle", "sleet", "frost", "wind", "mist"),
    "gemstones": ("ruby", "emerald", "sapphire", "diamond", "opal", "topaz", "amethyst", "garnet", "jade", "pearl"),
    "tools": ("hammer", "screwdriver", "wrench", "saw", "pliers", "drill", "chisel", "level", "file", "clamp"),
    "insects": ("ant", "bee", "beetle", "moth", "wasp", "cricket", "dragonfly", "ladybird", "termite", "aphid"),
    "dances": ("waltz", "tango", "salsa", "foxtrot", "samba", "polka", "flamenco", "ballet", "swing", "rumba"),
}
_LIST_CONTEXTS = ("", " for a quiz", " for my notes", " for a children's game", " for a vocabulary lesson",
                  " to use in a story", " for a crossword theme")
_FORMATS = {"numbered": ("as a numbered list", "in a numbered list, one per line", "numbered 1, 2, 3 and so on"),
            "bullets": ("as a bulleted list using '-'", "as bullet points (one '-' per line)", "as a dash list")}
_LIST_PROMPTS = ("List {n} {cat}{ctx}, {fmt}.", "Give me {n} {cat}{ctx}, {fmt}.",
                 "Name exactly {n} {cat}{ctx}. Format them {fmt}.", "I need {n} {cat}{ctx}; write them {fmt}.",
                 "Please list {n} different {cat}{ctx} {fmt}.")
_ITEM_LINE = {"numbered": re.compile(r"^(\d+)\.\s+(\S.*)$"), "bullets": re.compile(r"^[-*]\s+(\S.*)$")}


def _render(items: list[str], style: str, intro: str) -> str:
    lines = [f"{n}. {item}" if style == "numbered" else f"- {item}" for n, item in enumerate(items, start=1)]
    return "\n".join(([intro] if intro else []) + lines)


def check_list(spec: dict, answer: str) -> bool:
    """Exactly N distinct items in the asked format (one optional intro line ending in ':'),
    numbered 1..N in order when numbering was asked for."""
    lines = [line.strip() for line in answer.strip().split("\n") if line.strip()]
    if lines and lines[0].endswith(":") and not _ITEM_LINE[spec["style"]].match(lines[0]):
        lines = lines[1:]
    pattern = _ITEM_LINE[spec["style"]]
    matches = [pattern.match(line) for line in lines]
    if len(lines) != spec["n"] or not all(matches):
        return False
    items = [m.group(m.lastindex).strip().lower() for m in matches]
    if len(set(items)) != len(items):
        return False
    return spec["style"] != "numbered" or [int(m.group(1)) for m in matches] == list(range(1, spec["n"] + 1))


def make_list(rng: Rng) -> Probe:
    category = rng.choice(sorted(CATEGORIES))
    pool = [w[0].upper() + w[1:] for w in CATEGORIES[category]]
    n = rng.randint(3, 7)
    style = rng.choice(("numbered", "bullets"))
    prompt = fill(rng.choice(_LIST_PROMPTS), n=n, cat=category, ctx=rng.choice(_LIST_CONTEXTS),
                  fmt=rng.choice(_FORMATS[style]))
    picked = rng.sample(pool, n + 1)
    intros = ("", f"Here are {n} {category}:", "Sure:", f"{n} {category}:")
    chosen = _render(picked[:n], style, rng.choice(intros))
    other = "bullets" if style == "numbered" else "numbered"
    wrong_items = picked[:n - 1]
    duplicate = picked[:n - 1] + [picked[rng.below(n - 1)]]
    candidates = []
    for intro in intros:
        candidates += [_render(wrong_items, style, intro), _render(picked, style, intro),
                       _render(duplicate, style, intro), _render(picked[:n], other, intro)]
    inline = ", ".join(picked[:n - 1]) + " and " + picked[n - 1] + "."
    candidates += [inline, f"Here are {n} {category}: {inline}"]
    rejected = pick_balanced(rng, chosen, candidates)
    return Probe(prompt, chosen, rejected, {"n": n, "style": style})


FAMILIES = (
    Family("json", "Instructions", make_json, check_json),
    Family("word-limit", "Instructions", make_word_limit, check_word_limit),
    Family("list", "Instructions", make_list, check_list),
)
