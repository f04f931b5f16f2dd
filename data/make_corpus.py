#!/usr/bin/env python3
"""Generate the rnncli sample corpus: original, synthetic English prose.

Every sentence comes from the small hand-written grammar in this file and in
data/source/topics.txt, plus a few hand-written paragraphs from
data/source/handwritten.txt, so the text is original and may be shipped under
the project's licence.  The output is deterministic for a given seed and word
target.

Usage:
    python data/make_corpus.py > data/corpus.txt
    python data/make_corpus.py --seed 7 --words 300000 -o data/corpus.txt

Standard library only.
"""
import argparse
import os
import random
import re
import sys

# --------------------------------------------------------------------------
# Inflection
# --------------------------------------------------------------------------
IRREGULAR = """
bend bent bent; begin began begun; bite bit bitten; blow blew blown;
break broke broken; bring brought brought; build built built; buy bought bought;
catch caught caught; choose chose chosen; come came come; cut cut cut;
dig dug dug; draw drew drawn; drink drank drunk; drive drove driven;
eat ate eaten; fall fell fallen; feed fed fed; feel felt felt;
find found found; fly flew flown; forget forgot forgotten; get got got;
give gave given; go went gone; grind ground ground; grow grew grown;
hang hung hung; have had had; hear heard heard; hide hid hidden;
hold held held; keep kept kept; know knew known; lay laid laid;
lead led led; leave left left; lend lent lent; light lit lit;
lose lost lost; make made made; meet met met; put put put; read read read;
ride rode ridden; ring rang rung; run ran run; say said said; see saw seen;
sell sold sold; send sent sent; set set set; sew sewed sewn;
shake shook shaken; shear sheared shorn; shut shut shut; sing sang sung;
sit sat sat; sleep slept slept; speak spoke spoken; spend spent spent;
split split split; spread spread spread; stand stood stood;
sweep swept swept; swim swam swum; take took taken; teach taught taught;
tear tore torn; tell told told; think thought thought; throw threw thrown;
wake woke woken; wear wore worn; win won won; wind wound wound;
write wrote written; sink sank sunk; strike struck struck; kneel knelt knelt
"""
IRR = {w[0]: (w[1], w[2]) for w in
       (item.split() for item in IRREGULAR.split(';')) if w}
DOUBLE = set("""stop drop plan grab step shop chop mop wrap trip nod hum jog
tap pat rub scrub stir knit skip hug dip trim pin slip ship plug tug fit
tar net bat dab pot pad prop strap slap snap clap spot jot chat clip drag gut hop
forget split cut run swim sit dig begin set put get hit label shovel travel signal level""".split())
VOWELS = "aeiou"


def _past(h, pp=False):
    if h in IRR:
        return IRR[h][1 if pp else 0]
    if h.endswith('e'):
        return h + 'd'
    if h.endswith('y') and h[-2] not in VOWELS:
        return h[:-1] + 'ied'
    if h in DOUBLE:
        return h + h[-1] + 'ed'
    return h + 'ed'


def _third(h):
    if h == 'have':
        return 'has'
    if h.endswith(('s', 'x', 'z', 'ch', 'sh', 'o')):
        return h + 'es'
    if h.endswith('y') and h[-2] not in VOWELS:
        return h[:-1] + 'ies'
    return h + 's'


def _ing(h):
    if h.endswith('ie'):
        return h[:-2] + 'ying'
    if h.endswith('e') and not h.endswith(('ee', 'ye', 'oe')):
        return h[:-1] + 'ing'
    if h in DOUBLE:
        return h + h[-1] + 'ing'
    return h + 'ing'


def verb(vp, form):
    """Inflect the first word of a verb phrase: base, past, pp, s, ing."""
    head, sep, rest = vp.partition(' ')
    head = {'base': lambda h: h, 'past': _past, 'pp': lambda h: _past(h, True),
            's': _third, 'ing': _ing}[form](head)
    return head + sep + rest


def plural(phrase):
    words = phrase.split(' ')
    w = words[-1]
    if w.endswith(('s', 'x', 'z', 'ch', 'sh')):
        w += 'es'
    elif w.endswith('y') and w[-2] not in VOWELS:
        w = w[:-1] + 'ies'
    else:
        w += 's'
    return ' '.join(words[:-1] + [w])


def article(phrase):
    w = phrase.lower()
    vowel = w[0] in VOWELS and not w.startswith(('uni', 'use', 'usu', 'eu', 'one', 'once'))
    if w.startswith(('hour', 'honest', 'heir')):
        vowel = True
    return ('an ' if vowel else 'a ') + phrase


class Noun:
    """A noun; "*" marks things too big to carry, "/" an irregular plural."""

    def __init__(self, spec, mass=False):
        spec = ' '.join(spec.split())
        self.big = spec.startswith('*')
        sg, _, pl = spec.lstrip('*').partition('/')
        self.sg, self.mass = sg, mass
        self.pl = pl or plural(sg)


def nouns(spec, mass=False):
    return [Noun(s, mass) for s in spec.split('|') if s.strip()]


def words(spec):
    return [' '.join(s.split()) for s in spec.split('|') if s.strip()]


# --------------------------------------------------------------------------
# Topics and hand-written paragraphs live in data/source/ (see the headers there).
# --------------------------------------------------------------------------
PRON = {'m': ('he', 'him', 'his'), 'f': ('she', 'her', 'her')}
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'source')


def read_topics(path):
    topics, cur, key = {}, None, None
    with open(path, encoding='utf-8') as f:
        for raw in f:
            line = raw.rstrip('\n')
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            if line.startswith('['):
                cur = topics.setdefault(line.strip('[] '), {'lines': []})
            elif line[0].isspace():
                cur[key] += ' ' + line.strip()
            else:
                key, _, val = line.partition(' = ')
                if key == 'line':
                    cur['lines'].append(val.strip())
                else:
                    cur[key] = val.strip()
    return topics


def read_paragraphs(path):
    with open(path, encoding='utf-8') as f:
        text = ''.join(l for l in f if not l.startswith('#'))
    return [' '.join(p.split()) for p in text.split('\n\n') if p.strip()]


def build_topic(d):
    t = {'places': [], 'acts': [], 'vi': words(d['vi']), 'lines': d['lines']}
    for p in words(d['places']):
        prep, _, n = p.partition(' ')
        t['places'].append((prep, n))
    t['roles'] = nouns(d['roles'])
    t['things'] = nouns(d['things'])
    t['items'] = [n for n in t['things'] if not n.big]
    t['stuff'] = nouns(d['stuff'], True)
    t['beasts'] = nouns(d.get('beasts', '')) or VOCAB['animal']
    mass = {n.sg for n in t['stuff']} | {n.sg for n in VOCAB['food']}
    for a in d['acts'].split(';'):
        v, _, objs = ' '.join(a.split()).partition(':')
        for o in objs.split(','):
            o = o.strip()
            t['acts'].append((v.strip(), Noun(o, o in mass)))
    return t


VOCAB = {k: words(v) for k, v in
         read_topics(os.path.join(SOURCE, 'vocabulary.txt'))['common'].items() if k != 'lines'}
for k in ('food', 'animal'):
    VOCAB[k] = nouns('|'.join(VOCAB[k]), mass=(k == 'food'))
NAMES = VOCAB['female'] + VOCAB['male']
TOPIC = {k: build_topic(v)
         for k, v in read_topics(os.path.join(SOURCE, 'topics.txt')).items()}

# --------------------------------------------------------------------------
# Template expansion
# --------------------------------------------------------------------------
CHOICE = re.compile(r'\[([^\[\]]*)\]')
SLOT = re.compile(r'\{([A-Za-z_]+?)(\d?)(?:\.([a-z]+))?\}')


class Story:
    """Paragraph state: topic, hero, companion, what has been mentioned."""

    def __init__(self, rng, topic):
        self.rng, self.topic = rng, topic
        self.t = TOPIC[topic]
        self.hero = self.person()
        self.comp = self.person(avoid=self.hero[0])
        self.mentioned, self.used = False, set()
        male = ('man', 'master', 'boy')
        female = ('maid', 'mistress', 'ess', 'woman', 'wife', 'matron')
        roles = [r for r in self.t['roles']
                 if not r.sg.endswith(female if self.hero[1] == 'm' else male)]
        self.role = rng.choice(roles)

    def person(self, avoid=None):
        r = self.rng
        while True:
            g = r.choice('mf')
            if r.random() < 0.2:
                title = 'Mr ' if g == 'm' else r.choice(['Mrs ', 'Miss '])
                name = title + r.choice(VOCAB['surnames'])
            else:
                name = r.choice(VOCAB['male' if g == 'm' else 'female'])
            if name != avoid:
                return name, g

    def subject(self):
        r = self.rng
        if not self.mentioned:
            self.mentioned = True
            return self.hero[0]
        x = r.random()
        if x < 0.55:
            return PRON[self.hero[1]][0]
        if x < 0.65:
            return 'the ' + self.role.sg
        return self.hero[0]

    def expand(self, template, state=None):
        r = self.rng
        state = {} if state is None else state
        s = template
        while True:
            s2 = CHOICE.sub(lambda m: r.choice(m.group(1).split('|')), s)
            if s2 == s:
                break
            s = s2
        return SLOT.sub(lambda m: self.slot(m.group(1), m.group(2), m.group(3) or '', state), s)

    def pick(self, kind, key, state):
        if key in state:
            return state[key]
        r, t = self.rng, self.t
        pools = dict(VOCAB, thing=t['things'], item=t['items'], stuff=t['stuff'],
                     role=t['roles'], beast=t['beasts'], place=t['places'],
                     act=t['acts'], vi=t['vi'], name=NAMES)

        def ident(v):  # two actions in one sentence should use different verbs
            return v[0] if kind == 'act' else id(v)
        used = {ident(v) for k, v in state.items() if k.startswith(kind)}
        for _ in range(10):
            v = r.choice(pools[kind])
            if ident(v) not in used:
                break
        state[key] = v
        return v

    def slot(self, kind, idx, form, state):
        r = self.rng
        hp, cp = PRON[self.hero[1]], PRON[self.comp[1]]
        fixed = {'S': self.subject, 'P': lambda: hp[0], 'O': lambda: hp[1],
                 'H': lambda: hp[2], 'Name': lambda: self.hero[0],
                 'C': lambda: self.comp[0], 'CP': lambda: cp[0],
                 'CO': lambda: cp[1], 'CH': lambda: cp[2],
                 'hrole': lambda: self.role.sg,
                 'hour': lambda: r.choice(['one', 'two', 'three', 'four', 'five', 'six',
                                           'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'])}
        if kind in ('you', 'SH'):
            return state[kind]
        if kind in fixed:
            v = fixed[kind]()
            return article(v) if form == 'a' else v
        if kind == 'R':          # role as subject of a present-tense clause
            n = self.pick('role', 'role' + idx, state)
            state['pl'] = r.random() < 0.5
            return 'the ' + (n.pl if state['pl'] else n.sg)
        if kind in ('be', 'was', 'have'):
            pl = state.get('pl', False)
            return {'be': ('is', 'are'), 'was': ('was', 'were'),
                    'have': ('has', 'have')}[kind][pl]
        v = self.pick(kind, kind + idx, state)
        if isinstance(v, Noun):
            if form == 'pl':
                return v.pl
            if form == 'a':
                return 'some ' + v.sg if v.mass else article(v.sg)
            return v.sg
        if kind == 'place':
            prep, n = v
            return n if form == 'n' else prep + ' the ' + n
        if kind in ('act', 'vi', 'animalvp'):
            if kind == 'act':
                vp = v[0] + ' the ' + v[1].sg
            else:
                vp = self.expand(v, state)
            if form == 'pres':
                form = 'base' if state.get('pl') else 's'
            return verb(vp, form or 'past')
        if kind in ('time', 'weather', 'memory'):
            v = self.expand(v, state)
        return article(v) if form == 'a' else v


def cap(s):
    for i, ch in enumerate(s):
        if ch.isalpha():
            return s[:i] + ch.upper() + s[i + 1:]
    return s


# --------------------------------------------------------------------------
# Sentence templates.  [a|b|c] picks one alternative.  {kind} fills a slot:
#   {S} hero as subject (name, pronoun or "the <role>"); {P} {O} {H} the hero's
#   he/him/his; {Name} the hero's name; {C} {CP} {CO} {CH} the companion;
#   {hrole} the hero's job; {R} a role as the subject of a present-tense clause,
#   singular or plural, with {be} {was} {have} agreeing with it;
#   {thing} {item} (portable things) {stuff} {role} {beast} {place} {act} {vi}
#   from the paragraph's topic; any key of vocabulary.txt ({adj}, {time}, ...).
# A digit makes a second, different pick ({act2}); repeating a slot in one
# sentence repeats the pick.  Forms: .a (with a/an), .pl (plural), .n (place
# noun without its preposition); verbs take .past (default), .base, .pres
# (agrees with {R}), .s, .pp and .ing.
# --------------------------------------------------------------------------
OPENINGS = [
    "{time}, {Name} [went|walked|hurried|set off] to the {place.n}.",
    "{Name} had worked as {hrole.a} for [many|nearly {count}|almost {count}|more than {count}] "
    "years.",
    "It was {day.a} in {month}, and {Name} was {act.ing} {place}.",
    "{Name} woke early, because there was a lot to do {place}.",
    "Every {season}, {Name} and {C} worked together {place}.",
    "{weather}, but {Name} was already {place}.",
    "{Name} was the only {hrole} in the [town|district|valley|whole county] who still remembered "
    "the old ways.",
    "{time}, {Name} was {place}, {act.ing}.",
    "When {Name} arrived {place}, {C} was already there.",
    "Nobody was {place} when {Name} arrived, except [the cat|a sleepy old dog|a spider in the "
    "corner|a sparrow that had flown in].",
]
MIDDLE = [
    "{S} {act}.", "{S} {adv} {act}.", "{S} {act} {place}.", "{S} {act} and {act2}.",
    "{S} {act}, then {act2}.", "When {S} had {act.pp}, {P} {act2}.",
    "After {S} had {act.pp}, {P} {vi}.", "Before {meal}, {S} {act}.",
    "{S} {act} because [the {role} had asked {O} to|it was nearly time for {meal}|nobody else "
    "had time|{C} was busy {place}].",
    "Although {S} was {padj}, {P} {act}.",
    "{S} was {act.ing} when {C} [arrived|came in|called out|appeared].",
    "While {S} was {act.ing}, {C} {act2}.", "{S} found {adj.a} {item} {place}.",
    "There were {num} {thing.pl} {place}, but only one of them was [any use|worth "
    "keeping|clean|new|dry|the right size].",
    "{S} counted the {thing.pl} [twice|three times|again, just to be sure].",
    "{S} asked {C} to {act.base}.",
    "{C} promised to {act.base} [before {meal}|the next day|after {meal}].",
    "{S} could not find the {item} anywhere.", "{S} put the {item} {place} and went back to work.",
    "{S} had never seen such {adj.a} {thing}.",
    "{S} wondered whether {C} would {act.base} in time.",
    "{S} bought {shop}, {shop2} and {shop3} on the way home.", "{animal.a} {animalvp.past}.",
    "{S} looked at the {thing} for a long time [without saying anything|and then shook {H} "
    "head|and smiled].",
    "{start}, the {item} slipped from {H} hands and fell to the ground.",
    "{S} was {padj}, so {P} sat down {place} for a while.",
    "The {item} was {cond}, so {S} [left it alone|put it aside|went to fetch another one].",
    "It took {Name} {hours} hours to {act.base}.",
    "{S} remembered that {C} had {act.pp} the week before.", "Nobody knew who had {act.pp}.",
    "Who had left the {item} {place}?", "Why was the {place.n} so {atm} today?",
    "Where had all the {thing.pl} gone?", "{weather}.", "{start}, {S} {vi}.",
    "{start}, {S} {act}.", "{S} {vi}, and {C} {vi2}.",
    "{S} wanted to {vi.base}, but there was no time.", "{C} had {adj.a} {item} under {CH} arm.",
    "{S} thanked {C} and [went back to work|walked on|turned to go].",
    "{S} told {C} about the {thing} {P} had found {place}.",
    "If the weather stayed [fine|dry|calm], {P} would {act.base} tomorrow.",
    "The {role} said that the {thing} was {cond}.",
    "{C} laughed and said that {CP} would {act.base} [later|after {meal}|another day].",
    "{S} felt {padj}, but {P} did not say so.",
    "It was {atm} {place}, and {S} was glad of {H} coat.",
    "{S} [decided|tried|hoped] to {act.base} before it got dark.",
    "The {place.n} smelled of {smell} and {smell2}.", "Somewhere nearby, {sound}.",
    "{S} [put on|buttoned up|pulled on] {H} {clothes} and went out.",
    "The smell of {smell} reminded {O} of {memory}.",
    "For some reason, {S} [thought about|remembered] {memory}.",
    "{time}, while the {role} was busy {place}, {S} {act} and {act2}.",
    "{S} {act}, {act2} and then, because there was still time before {meal}, {P} {vi}.",
    "Although the {item} was {cond} and the weather was [cold|wet|miserable], {S} {adv} {act}.",
    "{S} had hoped to {vi.base}, but the {role} needed help {place}, so {P} {act} instead.",
    "After {meal}, {S} and {C} {act} together and talked about {memory}.",
    "The {role} who usually {act.s} on {day}s had not come, so {S} did it instead.",
    "{S} was not sure whether to {act.base} first or to {act2.base}, so {P} asked {C}.",
    "{S} was wearing {H} {clothes}, although it was [far too warm|not really cold|nearly summer].",
]
CLOSINGS = [
    "By evening, the work was done, and {S} went home.",
    "It had been a long day, and {P} felt [tired but content|happy|pleased with the work|ready "
    "for bed].",
    "That night, {P} slept [well|badly|like a stone|for ten hours].",
    "{S} smiled and [locked the door|put out the lamp|went to find {C}|went home].",
    "Tomorrow, {P} thought, {P} would {act.base}.",
    "{S} walked home in the [dusk|rain|moonlight|last of the sun], tired but "
    "[happy|content|cheerful|pleased].",
    "When {S} finally got home, supper was already on the table.",
    "It was the best {season} that {Name} could remember.",
]
DESCRIBE = [
    "In {season}, the {place.n} is {atm} [and full of {thing.pl}|from morning until night|even "
    "at noon].",
    "Every morning, {R} {act.pres}.",
    "{R} {be} always busy [in {season}|before a holiday|at the end of the month].",
    "Most of the {thing.pl} {place} are {adj}.", "On {day}s, {R} {vi.pres}.",
    "Nobody remembers when the {place.n} was last painted.",
    "Visitors often ask why the {thing.pl} are so [old|small|large|crooked|colourful|well kept].",
    "When the weather is [fine|wet|cold|warm|windy|dry|calm], {R} {vi.pres}.",
    "It takes longer than you might think to {act.base}.", "There are {num} {thing.pl} {place}.",
    "There is {thing.a} {place} that nobody uses any more.",
    "{R} usually {act.pres} [before {meal}|after {meal}|on {day}s|in the evening].",
    "In {month}, {R} {act.pres} and {act2.pres}.",
    "Nobody is allowed to {act.base} without asking first.",
    "The oldest {thing} {place} is more than a hundred years old.",
    "{R} {have} a [saying|rule|story] about the {thing}, but nobody agrees on what it means.",
    "If you {vi.base} [early in the morning|on {day.a}|in {month}], you [may meet the "
    "{role}|will not be alone|will see why people love the {place.n}].",
]
SAY = [
    "said", "said", "said", "replied", "called", "whispered", "answered", "muttered",
]
ASK = [
    "asked", "asked", "asked", "called",
]
HOW = [
    "without looking up", "with a smile", "shaking {SH} head", "pointing towards the {place.n}",
    "wiping {SH} hands", "after a moment", "quietly", "a little crossly",
]
LINES = [
    "The {thing} [is|was] {cond}", "The {item} is not where I left it",
    "The {thing} is [older|heavier|lighter] than it looks", "We are running out of {stuff}",
    "We should {act.base} before dark", "I will {act.base} in the morning",
    "You can {act.base} after {meal}",
    "[It looks like rain|The wind is getting up|It is colder than yesterday|It is going to be a "
    "fine day]",
    "I left my {item} {place}", "{name} says the {thing} is {cond}",
    "There is no time to {act.base} today", "I have never seen so many {thing.pl}",
    "That is the last {thing} {place}", "Be careful with that {item}", "Don't forget the {thing}",
    "We will need {num} more {thing.pl}", "[Good morning|Good evening|Hello], {you}",
    "Thank you, {you}", "[No, not yet|Not yet|Nearly]",
    "[Of course|I think so|Not today|Perhaps tomorrow|I doubt it]",
    "I can't find the {item} anywhere", "The {role} wants the {thing} by {day}",
    "I would rather {vi.base}", "It was like this when I found it",
]
QUESTIONS = [
    "Have you seen my {item}", "Where did you put the {item}", "Can you help me {act.base}",
    "Is the {thing} ready yet", "Did you {act.base} yesterday", "Who left the {item} {place}",
    "Why is it so {atm} {place}", "Are you coming to the {place.n}", "Would you like some {food}",
    "How many {thing.pl} do we have", "What shall we do about the {thing}",
    "Do you know where {name} is", "Shall I {act.base}", "When does the {role} come back",
]


def dialogue(st, speaker_is_hero=None):
    r = st.rng
    hero = r.random() < 0.5 if speaker_is_hero is None else speaker_is_hero
    name, g = st.hero if hero else st.comp
    you = st.comp[0] if hero else st.hero[0]
    state = {'you': you, 'SH': PRON[g][2]}
    q = r.random() < 0.35

    def line(pool):
        return cap(st.expand(r.choice(pool), dict(state)))
    txt = line(QUESTIONS if q else LINES)
    spk = PRON[g][0] if hero and r.random() < 0.3 else name
    tag = r.choice(ASK if q else SAY)
    end = '?' if q else ','
    x = r.random()
    if x < 0.55:
        said = f"{tag} {spk}" if spk == name else f"{spk} {tag}"
        out = f'"{txt}{end}" {said}'
        if not q and r.random() < 0.2:
            out += ', ' + st.expand(r.choice(HOW), dict(state))
        out += '.'
        if r.random() < 0.3:
            out += ' "' + line(LINES) + '."'
        return out
    if x < 0.8:
        return f'{cap(spk)} {tag}, "{txt}{"?" if q else "."}"'
    return f'"{txt}{"?" if q else "."}"'


def sentence(st, pool):
    """Expand a template from pool, avoiding templates already used in this paragraph."""
    for _ in range(20):
        tpl = st.rng.choice(pool)
        if tpl not in st.used:
            break
    st.used.add(tpl)
    if pool is MIDDLE and tpl.startswith('{S} ') and st.rng.random() < 0.25:
        tpl = st.rng.choice(['{start}, ', '{time}, ', '[Once again|As usual|Without a word], ']) + tpl
    return cap(st.expand(tpl))


def join_some(rng, out, p=0.35):
    """Join some short neighbouring statements into compound sentences."""
    res = out[:1]
    for s in out[1:]:
        prev = res[-1]
        word, _, rest = s.partition(' ')
        simple = all(c not in x for x in (prev, s) for c in '",;?') and len(res) > 1
        if (simple and word in ('He', 'She', 'It', 'The', 'There') and prev.endswith('.')
                and rng.random() < p):
            res[-1] = prev[:-1] + rng.choice([', and ', ', and ', '; ']) + word.lower() + ' ' + rest
        else:
            res.append(s)
    return res


def story_paragraph(rng, topic):
    st = Story(rng, topic)
    out = [sentence(st, OPENINGS)]
    for _ in range(rng.randint(3, 8)):
        x = rng.random()
        if x < 0.2:
            out.append(dialogue(st))
        elif x < 0.45:
            out.append(sentence(st, st.t['lines']))
        else:
            out.append(sentence(st, MIDDLE))
    out = join_some(rng, out)
    if rng.random() < 0.6:
        out.append(sentence(st, CLOSINGS))
    return ' '.join(out)


def describe_paragraph(rng, topic):
    st = Story(rng, topic)
    st.mentioned = True
    return ' '.join(sentence(st, DESCRIBE) for _ in range(rng.randint(3, 6)))


def dialogue_paragraph(rng, topic):
    st = Story(rng, topic)
    out = [sentence(st, OPENINGS)]
    who = rng.random() < 0.5
    for _ in range(rng.randint(3, 6)):
        out.append(dialogue(st, who))
        who = not who
    return ' '.join(out)


def generate(seed=1, target_words=300000):
    rng = random.Random(seed)
    topics = sorted(TOPIC)
    paras, n = [], 0
    while n < target_words:
        topic = rng.choice(topics)
        x = rng.random()
        if x < 0.72:
            p = story_paragraph(rng, topic)
        elif x < 0.87:
            p = describe_paragraph(rng, topic)
        else:
            p = dialogue_paragraph(rng, topic)
        paras.append(p)
        n += len(p.split())
    for p in read_paragraphs(os.path.join(SOURCE, 'handwritten.txt')):
        paras.insert(rng.randrange(len(paras) + 1), p)
    return '\n\n'.join(paras) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seed', type=int, default=1, help='random seed (default: 1)')
    ap.add_argument('--words', type=int, default=300000,
                    help='stop after about this many words (default: 300000)')
    ap.add_argument('-o', '--output', help='write here instead of stdout')
    a = ap.parse_args(argv)
    text = generate(a.seed, a.words)
    if a.output:
        with open(a.output, 'w', encoding='utf-8', newline='\n') as f:
            f.write(text)
    else:
        sys.stdout.buffer.write(text.encode('utf-8'))


if __name__ == '__main__':
    main()
