// Hand-written phrase banks for the SFT rewrites (write-sft-pairs.mjs), one set per category.
//
// A bank entry is a phrase, or { t, if, not, tod, pre }:
//   if  / not  regular expressions tested on the user prompt (the phrase is used only when `if`
//              matches and `not` does not), so fur goes to furry animals, steam to hot food, a
//              road to cars and not to boats;
//   tod        time of day the phrase implies ('day' | 'golden' | 'night'); it is used only when the
//              prompt names no time of day or the same one;
//   mode       'photo' | 'art': used only in rewrites of that mode;
//   pre        for style phrases: the prefix form ("an oil painting of") used when the rewrite
//              starts with the medium instead of the subject.
//
// Slots: detail (subject details), setting (where, for prompts that name no place), background
// (for prompts that do), lighting, composition, photoStyle / artStyle (medium), camera (photo
// mode only), mood (mood and colour), and quality (SHARED, by mode). `photo` is the chance that a
// rewrite of this category is a photograph rather than artwork, unless the prompt says which.

// ---- subject classes used by the conditions -------------------------------------------------
const FURRY =
  /\b(cat|cats|kitten|dog|dogs|puppy|fox|lion|lioness|tiger|wolf|bear|panda|koala|hedgehog|leopard|husky|huskies|retriever|horse|squirrel|deer|rabbit|bunny|cubs?)\b/;
const BIRD = /\b(owl|parrot|hummingbird|peacock|flamingos?|penguins?|eagle|ducks?|swan|birds?|toucan|pigeons?)\b/;
const AQUATIC = /\b(jellyfish|octopus|whale|dolphin|shark|fish|sea turtle|turtle|seal|crab|reef|underwater|sea floor)\b/;
const PET = /\b(cat|kitten|dog|puppy|retriever|husky puppy|hedgehog|hamster|bunny)\b/;
const SMALL_ANIMAL = /\b(kitten|hedgehog|squirrel|frog|chameleon|red panda|hummingbird|mouse|owl)\b/;
const SNOWY = /\b(snow|snowy|ice|icy|iceberg|glacier|winter|frozen|arctic|polar|penguins?|husky|huskies|snow leopard)\b/;
const WATER = /\b(lake|river|ocean|sea|water|fjord|pond|waterfall|lagoon|beach|waves|bay|swamp|stream|canal|harbor)\b/;
const DRY = /\b(desert|dunes?|salt flats|canyon|volcano|tundra|glacier|ice|snow|snowy|night|stars|starry|arches)\b/;
const HOT_FOOD =
  /\b(ramen|soup|curry|coffee|tea|latte|pizza|dumplings|steak|paella|hot|bread|loaves|croissants?|pancakes|cinnamon|burger|cheeseburger|tacos|spaghetti|pasta|dim sum)\b/;
const SWEET =
  /\b(cake|cookies?|chocolate|ice cream|donuts?|tart|pastry|cupcake|pancakes|waffles?|croissants?|cinnamon|macarons|marshmallows|dessert|cherries|strawberry)\b/;
const DRINK = /\b(coffee|tea|latte|cocktail|smoothie|juice|wine|lemonade|milkshakes?|espresso|hot chocolate)\b/;
const COLD_DRINK = /\b(cocktail|smoothie|iced|juice|lemonade|milkshakes?)\b/;
const SAVORY = /\b(pizza|burger|cheeseburger|ramen|tacos|salad|steak|curry|spaghetti|pasta|dumplings|paella|soup|sushi|bento|avocado|tomatoes|cheese|sandwiches|skewers|dim sum)\b/;
const WATERCRAFT = /\b(boat|ship|yacht|sailboat|canoe|submarine|speedboat|ferry)\b/;
const AIRCRAFT = /\b(plane|airplane|jet|helicopter|balloons?|airship|airstrip)\b/;
const RAIL = /\b(train|locomotive|tram|cable car)\b/;
const NOT_ROAD = /\b(boat|ship|yacht|sailboat|canoe|submarine|speedboat|ferry|plane|airplane|jet|helicopter|balloons?|train|locomotive|tram|cable car|tank)\b/;
const OLD = /\b(old|elderly|elder|grandfather|grandmother|fisherman|farmer|sailor|monk)\b/;
const MONOCHROME = /\b(black and white|monochrome|sepia|infrared)\b/;
const ORNATE = /\b(gothic|cathedral|palace|temple|mosque|art deco|victorian|pagoda|church|colosseum|castle)\b/;
const MODERN = /\b(modern|glass|minimalist|brutalist|concrete|futuristic|skyscraper|villa|pavilion|eco|stadium)\b/;
const WOODEN = /\b(wooden|cottage|barn|farmhouse|cabin|windmill|pagoda|treehouse|half-timbered)\b/;
const SPACE = /\b(spaceship|starship|space station|nebula|black hole|wormhole|dyson|station|asteroid|hyperspace)\b/;
const PLANET_SURFACE = /\b(mars|planet|moon base|rover|colony|crater|jungle|exoplanet)\b/;
const ARMORED = /\b(knight|warrior|soldier|army|lich|dark lord|skeletons)\b/;
const ROBED = /\b(wizard|sorceress|mage|witch|necromancer|elf)\b/;
const SCALY = /\b(dragon|mermaid|kraken)\b/;
const DARK_FANTASY = /skeleton|lich|necromancer|haunted|werewolf|blood|dark lord|army|kraken|burning|troll|dragon egg|bones/;
const STORMY = /storm|stormy|erupting|lightning|crashing|blizzard|burning/;
const SCI_TECH =
  /spaceship|starship|station|mech|robot|cyborg|android|car|train|rover|elevator|base|colony|city|megacity|armor|gun|machine|hologram|holographic|diner|bar|street|market|apartment|hacker|marines|bridge|dyson|helmet|time traveler|portal|ship/;
const COSMIC = /nebula|black hole|wormhole|galaxy|exoplanet|planet|alien|jungle|star\b/;
const FANTASY_BEING =
  /dragon|wizard|elf|unicorn|fairy|phoenix|mermaid|troll|griffin|witch|knight|goblin|dwarf|sorceress|kraken|centaur|pegasus|necromancer|werewolf|lich|giant|mage|spirit|skeletons|lord/;
const NOT_BEING = /village|ring|egg|cottage|library|market|portal|castle|city/;
const OUTDOOR_BASIC = /kite|sky|beach|balloons?|airplane|rainbow|field|hill|garden|picnic|sandcastle|bubbles|park|yard|road|wind|snowman/;
// photography prompts that name a technique and no subject, by the kind of scene that suits them
const TECH_CITY = /^(street photography|night photography|film photo|35mm film|polaroid|fisheye shot|light trails|bokeh lights|long exposure|double exposure|monochrome photo|shadows and light|lens flare|tilt-shift photo)$/;
const TECH_NATURE = /^(long exposure|aerial photo|drone shot|golden hour|infrared photo|film photo|35mm film|polaroid|monochrome photo|silhouette|milky way|lens flare|double exposure|shadows and light)$/;
const TECH_STUDIO = /^(product photo|studio photo)$/;
const CLOSE = /\b(macro|close up|close-up|dew|drops|raindrops|dewdrop|seed|droplets)\b/;
const PERSON = /\b(man|woman|girl|boy|kid|kids|child|people|couple|family|chef|baker|rider|pilot|grandmother|mother|farmer|nurse|monk|skater|musician|singer|painter|ballerina|scientist|soldier|boxer|bride|cowboy|surfer|firefighter|fisherman|teenager|baby|businessman|businesswoman|sailor|elder)\b/;

/** Phrases shared by every category, by mode. */
export const SHARED = {
  photoQuality: [
    'highly detailed', 'sharp focus', '8k', 'ultra realistic', 'professional photography',
    'award-winning photo', 'crisp detail', 'high dynamic range', 'photorealistic', 'tack sharp',
    '4k uhd', 'fine detail', 'high resolution', 'realistic textures', 'clean image',
    'magazine quality',
  ],
  artQuality: [
    'highly detailed', 'masterpiece', 'intricate details', 'trending on artstation',
    'beautiful artwork', 'best quality', 'rich textures', 'gallery quality', 'fine craftsmanship',
    'stunning detail', 'high resolution', 'polished finish', 'award-winning illustration',
    'exquisite detail',
  ],
  camera: [
    'shot on 35mm', { t: 'shallow depth of field', not: /depth of field|infrared|aerial|drone/ },
    'f/1.8', 'dslr', 'natural color grading', 'full-frame sensor', 'prime lens',
    'sony a7r iv', 'nikon z7', 'leica q2', 'fujifilm x100v',
    { t: 'kodak gold 200 film', not: MONOCHROME }, { t: 'high iso grain', tod: 'night' },
    'canon eos r5', 'raw photo',
  ],
};

export const BANKS = {
  basic: {
    photo: 0.55,
    detail: [
      'clean simple shapes', 'fine surface texture', 'crisp clean edges', 'subtle imperfections',
      'true-to-life colors', 'realistic materials', 'small charming details', 'tactile textures',
      { t: 'worn and well loved', not: /moon|rainbow|snowman|balloons?|bubbles|kite|fireworks|fireflies|sunflowers?|dandelion/ },
      'carefully arranged props', 'clear readable shapes', 'gentle details',
    ],
    setting: [
      'against a clean white backdrop', 'on a soft pastel background', 'set against a plain wall',
      'in a simple everyday setting', 'isolated on a neutral background',
      'against a soft gradient background', 'in a calm minimal scene',
    ],
    background: [
      'softly blurred background', 'uncluttered background', 'muted background colors',
      'simple tidy surroundings', 'quiet background',
    ],
    lighting: [
      'soft natural light', { t: 'warm afternoon sunlight', tod: 'day' },
      { t: 'gentle diffused daylight', tod: 'day' }, 'soft window light',
      { t: 'golden hour glow', tod: 'golden' }, 'bright even lighting', 'soft shadows',
      'warm cozy glow', { t: 'cool morning light', tod: 'day' }, 'moody low-key lighting',
      { t: 'moonlit blue tones', tod: 'night' }, { t: 'warm lamplight', tod: 'night', not: OUTDOOR_BASIC },
      'gentle rim light',
    ],
    composition: [
      'centered composition', 'rule of thirds', 'eye-level view', 'close-up view',
      'plenty of negative space', 'simple balanced framing', 'slightly low angle',
      { t: 'overhead view', not: /above|overhead/ }, 'symmetrical framing', 'tight crop',
    ],
    photoStyle: [
      { t: 'lifestyle photograph', pre: 'a lifestyle photo of' },
      { t: 'clean product-style photo', not: PERSON },
      { t: 'candid snapshot', pre: 'a candid snapshot of' },
      { t: 'editorial photograph', pre: 'an editorial photo of' },
      { t: 'high resolution photograph', pre: 'a high resolution photo of' },
      { t: 'natural light photograph', pre: 'a natural light photo of' },
    ],
    artStyle: [
      { t: 'flat vector illustration', pre: 'a flat vector illustration of' },
      { t: 'watercolor illustration', pre: 'a watercolor illustration of' },
      { t: "children's book illustration", pre: "a children's book illustration of" },
      { t: 'colored pencil drawing', pre: 'a colored pencil drawing of' },
      { t: 'gouache painting', pre: 'a gouache painting of' },
      { t: 'cute 3d render', pre: 'a cute 3d render of' },
      { t: 'soft pastel drawing', pre: 'a soft pastel drawing of' },
      { t: 'linocut print', pre: 'a linocut print of' },
      { t: 'cozy digital painting', pre: 'a cozy digital painting of' },
      'claymation style',
    ],
    camera: ['50mm lens', 'f/2.8 aperture', 'iphone photo', 'soft focus falloff'],
    mood: [
      'cheerful and warm', 'calm and simple', 'nostalgic mood', 'playful atmosphere',
      { t: 'soft pastel palette', not: MONOCHROME }, { t: 'bright saturated colors', not: MONOCHROME },
      { t: 'muted earthy tones', not: MONOCHROME }, 'quiet and peaceful', 'homely feeling',
    ],
  },

  photography: {
    photo: 1,
    detail: [
      'rich tonal range', 'fine grain', 'crisp textures', 'deep blacks',
      { t: 'natural colors', not: MONOCHROME }, 'subtle film grain', 'true-to-life tones',
      'delicate highlights', 'strong contrast', 'clean highlights', 'smooth gradations',
      'subtle micro-contrast',
    ],
    setting: [
      { t: 'on a leaf in the garden', if: /^(macro photo|dew drops|raindrops on glass)$/ },
      { t: 'on a flower petal', if: /^(macro photo|dew drops)$/ },
      { t: 'in an old town street', if: TECH_CITY }, { t: 'on a rainy city street', if: TECH_CITY },
      { t: 'in a quiet urban setting', if: TECH_CITY }, { t: 'along a rocky coastline', if: TECH_NATURE },
      { t: 'in a misty forest', if: TECH_NATURE }, { t: 'over a quiet harbor', if: TECH_NATURE },
      { t: 'on a seamless white backdrop', if: TECH_STUDIO }, { t: 'on a marble pedestal', if: /^product photo$/ },
    ],
    background: [
      'clean uncluttered background', 'creamy background bokeh', 'dark negative space',
      'softly layered background', 'distracting elements removed',
    ],
    lighting: [
      'natural available light', { t: 'hard directional sunlight', tod: 'day' },
      { t: 'golden backlight', tod: 'golden' }, { t: 'blue hour ambient light', tod: 'night' },
      { t: 'soft overcast light', tod: 'day' }, 'dramatic side lighting', { t: 'glowing city lights', tod: 'night', if: new RegExp(`${TECH_CITY.source}|street|city|alley|neon|highway|intersection|raindrops|window|puddle|ferris|laundromat|subway|parking`) },
      { t: 'low sun with long shadows', tod: 'golden' }, 'diffused window light',
      { t: 'crisp morning light', tod: 'day' }, 'high-key lighting', 'chiaroscuro contrast',
    ],
    composition: [
      'leading lines', 'rule of thirds composition', 'strong foreground interest',
      'minimalist framing', 'layered depth', 'symmetry', { t: 'decisive moment', not: /product|studio|macro|dew|drops|droplets|seed|smoke|infrared|milky|tree in fog/ },
      { t: 'wide establishing view', not: CLOSE }, 'frame within a frame',
      { t: 'low angle perspective', not: /low angle|aerial|drone|overhead/ },
    ],
    photoStyle: [
      'fine art photography', { t: 'documentary style', not: /documentary|style/ },
      'editorial photo', 'award-winning photograph', 'magazine cover photo',
      { t: 'street photography aesthetic', if: /^(night photography|film photo|35mm film|polaroid|fisheye shot|monochrome photo|shadows and light)$|crosswalk|alley|city|subway|cyclist|diner|laundromat/ }, 'gallery print',
    ],
    artStyle: ['fine art print'],
    camera: [
      { t: 'long shutter speed', if: /exposure|light trails|waterfall|milky|waves|star/ },
      'iso 100', 'tripod shot', 'leica m6', 'hasselblad medium format', { t: 'kodak portra 400', not: MONOCHROME },
      { t: 'ilford hp5', if: MONOCHROME }, { t: 'cinestill 800t', tod: 'night', not: MONOCHROME },
      { t: 'f/2.8 aperture', not: /exposure/ }, { t: 'f/8 for edge-to-edge sharpness', not: CLOSE },
      { t: '100mm macro lens', if: CLOSE }, { t: '24mm wide angle lens', not: CLOSE },
    ],
    mood: [
      'quiet and contemplative', 'cinematic mood', 'nostalgic atmosphere', 'timeless feel',
      'dreamy mood', { t: 'gritty urban mood', if: /street|city|alley|neon|subway|laundromat|crosswalk|highway|intersection/ },
      'serene atmosphere', { t: 'vivid colors', not: MONOCHROME }, { t: 'muted tones', not: MONOCHROME },
      'poetic stillness',
    ],
  },

  portrait: {
    photo: 0.75,
    detail: [
      'natural skin texture', 'catchlights in the eyes', 'expressive eyes',
      'detailed facial features', 'fine hair detail', 'candid expression', 'thoughtful gaze',
      'genuine emotion', { t: 'subtle smile', not: /crying|tired|fight|boxer|sad|laughing|meditating|eyes closed/ },
      { t: 'weathered hands', if: OLD }, { t: 'deep wrinkles telling a story', if: OLD },
      { t: 'looking into the camera', not: /looking|eyes closed|meditating|backstage|tying/ },
      'relaxed posture', 'textured clothing', 'authentic moment',
    ],
    setting: [
      { t: 'in a quiet studio', not: /selfie/ }, 'against a dark backdrop',
      'against a muted gray backdrop', 'in front of a textured wall', 'in a sunlit doorway',
      'outdoors in soft shade', 'by a large window',
    ],
    background: [
      'blurred background', 'muted background tones', 'simple uncluttered backdrop',
      'background softly out of focus',
    ],
    lighting: [
      'soft window light', { t: 'rembrandt lighting', not: /rembrandt/ }, 'butterfly lighting',
      'soft key light with gentle fill', 'split lighting', { t: 'warm golden hour backlight', tod: 'golden' },
      { t: 'overcast daylight', tod: 'day' }, 'rim light',
      { t: 'diffused softbox light', not: /\b(in|on|at|under|by|near)\b/ }, 'natural light',
      { t: 'candlelit glow', tod: 'night', not: /neon/ },
      { t: 'neon glow', tod: 'night', if: /night|neon|city|street|club|bar|hacker|teenager|skater/ },
      { t: 'dappled sunlight', tod: 'day' },
    ],
    composition: [
      'head and shoulders portrait', 'tight close-up', 'three-quarter view', 'eye-level framing',
      'centered framing', 'off-center composition', 'half-body shot', 'environmental portrait',
      { t: 'profile view', not: /looking|face|laughing|headshot|selfie/ },
      'negative space on one side',
    ],
    photoStyle: [
      { t: 'editorial portrait photography', pre: 'an editorial portrait of' },
      { t: 'fine art portrait', pre: 'a fine art portrait of' },
      { t: 'documentary portrait', not: /documentary/ },
      { t: 'studio portrait photograph', not: /\b(in|on|at|under|by|near)\b/ },
      { t: 'film portrait', pre: 'a film photo of' },
      { t: 'magazine portrait', pre: 'a magazine portrait of' },
    ],
    artStyle: [
      { t: 'oil portrait painting', pre: 'an oil painting of' },
      { t: 'charcoal sketch', pre: 'a charcoal sketch of' },
      { t: 'watercolor portrait', pre: 'a watercolor portrait of' },
      { t: 'digital painting', pre: 'a digital painting of' },
      { t: 'renaissance style painting', pre: 'a renaissance painting of' },
      { t: 'graphite drawing', pre: 'a graphite drawing of' },
      { t: 'pastel portrait', pre: 'a pastel portrait of' },
    ],
    camera: [
      { t: '85mm lens', not: /\d+mm/ }, { t: '50mm prime', not: /\d+mm/ }, 'f/1.4 aperture',
      'f/2 aperture', { t: 'shot on kodak portra 400', not: MONOCHROME }, 'medium format camera',
      'sony a7 iii', 'eye autofocus',
    ],
    mood: [
      'intimate mood', 'quiet dignity', 'warm and tender', 'melancholic mood',
      'confident presence', { t: 'muted color palette', not: MONOCHROME },
      { t: 'warm skin tones', not: MONOCHROME }, 'timeless look', 'honest and raw',
      'calm atmosphere',
    ],
  },

  landscape: {
    photo: 0.7,
    detail: [
      'crisp details from foreground to horizon', 'textured rocks',
      { t: 'lush vegetation', not: DRY }, { t: 'rippling water', if: WATER },
      'layers of distant ridges', 'towering scale', 'untouched wilderness', 'fine atmospheric haze',
      'dramatic clouds', { t: 'reflections on the water', if: WATER, not: /reflect/ },
      'scattered boulders', { t: 'wildflowers in the foreground', not: /desert|dunes?|snow|ice|glacier|winter|tundra|volcano|night|ocean|salt|wildflowers|stars|starry/ },
      { t: 'wind-sculpted sand ripples', if: /desert|dunes?|sand/ },
      { t: 'fresh powder snow', if: /snow|snowy|winter|peaks|glacier/ },
    ],
    setting: [
      'under a vast open sky', 'seen from a high ridge', 'in a remote wilderness',
      { t: 'on a quiet morning', tod: 'day' }, 'after a passing storm', 'far from any town',
    ],
    background: [
      { t: 'distant mountains on the horizon', not: /mountain|peaks/ }, 'soft haze in the distance',
      'dramatic sky above', { t: 'clouds drifting overhead', not: /clouds/ },
    ],
    lighting: [
      { t: 'golden hour light', tod: 'golden' }, { t: 'first light of dawn', tod: 'golden' },
      { t: 'warm sunset glow', tod: 'golden' }, 'god rays through the clouds',
      { t: 'overcast soft light', tod: 'day' }, { t: 'crisp clear daylight', tod: 'day' },
      { t: 'silver moonlight', tod: 'night' }, { t: 'faint starlight', tod: 'night' },
      { t: 'deep blue hour', tod: 'night' }, 'dramatic storm light',
      { t: 'sun breaking through clouds', tod: 'day' },
      { t: 'alpenglow on the summits', tod: 'golden', if: /mountain|peaks|snow|glacier|fjord/ },
    ],
    composition: [
      'wide panoramic view', 'leading lines into the distance', 'strong foreground rocks',
      'rule of thirds', { t: 'aerial perspective', not: /above|aerial|drone/ }, 'low horizon line',
      'sweeping vista', 'layered depth', 'epic sense of scale', 'vertical composition',
    ],
    photoStyle: [
      { t: 'landscape photography', pre: 'a landscape photo of' },
      { t: 'national geographic style photo', pre: 'a national geographic photo of' },
      { t: 'fine art landscape photograph', pre: 'a fine art photograph of' },
      { t: 'travel photograph', pre: 'a travel photo of' }, 'nature photography',
    ],
    artStyle: [
      { t: 'oil painting', pre: 'an oil painting of' },
      { t: 'hudson river school painting', pre: 'a hudson river school painting of' },
      { t: 'watercolor landscape', pre: 'a watercolor of' },
      { t: 'impressionist painting', pre: 'an impressionist painting of' },
      { t: 'matte painting', pre: 'a matte painting of' },
      { t: 'gouache study', pre: 'a gouache study of' },
      'studio ghibli style background', 'romantic era landscape painting',
      { t: 'plein air painting', pre: 'a plein air painting of' },
    ],
    camera: [
      { t: 'wide angle lens', not: /\d+mm/ }, '16-35mm lens', 'f/11 aperture', 'polarizing filter',
      { t: 'long exposure', not: /exposure/ }, 'tripod', 'graduated nd filter',
      'high resolution sensor', { t: 'drone photography', not: /aerial|drone|above/ },
    ],
    mood: [
      { t: 'serene and vast', not: STORMY }, { t: 'peaceful atmosphere', not: STORMY }, 'moody atmosphere', 'awe-inspiring',
      'vivid natural colors', 'cool blue tones', 'warm earthy palette', 'misty and mysterious',
      'epic and majestic', 'quiet solitude',
    ],
  },

  architecture: {
    photo: 0.75,
    detail: [
      { t: 'intricate stonework', if: /castle|bridge|ruins|church|tower|cottage|village|mansion|medieval|ancient|roman|stone|cathedral|temple|mosque|palace|colosseum|gothic/, not: MODERN }, { t: 'clean geometric lines', if: MODERN },
      'weathered facade', { t: 'ornate details', if: ORNATE }, 'textured materials',
      { t: 'reflective glass surfaces', if: /glass|skyscraper|modern|eco/ },
      { t: 'aged timber beams', if: WOODEN }, { t: 'detailed brickwork', not: MODERN }, 'elegant proportions',
      'visible craftsmanship', { t: 'raw concrete texture', if: /brutalist|concrete|minimalist/ },
    ],
    setting: [
      { t: 'against a clear blue sky', tod: 'day' }, 'under a dramatic sky',
      { t: 'surrounded by greenery', not: /desert|snow|igloo|skyline|city|ice/ },
      { t: 'on a calm empty morning', tod: 'day' }, 'with a few people for scale',
      'in its natural surroundings',
    ],
    background: [
      'sky with drifting clouds', 'soft haze behind', 'quiet surroundings', 'clean skyline',
    ],
    lighting: [
      { t: 'warm evening light', tod: 'golden' }, { t: 'soft overcast light', tod: 'day' },
      { t: 'crisp midday sun', tod: 'day' }, { t: 'blue hour glow', tod: 'night' },
      'dramatic shadows', { t: 'warm interior lights glowing', tod: 'night' },
      { t: 'sunlight raking across the facade', tod: 'day' }, { t: 'floodlit', tod: 'night' },
      { t: 'soft morning light', tod: 'day' }, { t: 'golden hour', tod: 'golden' },
    ],
    composition: [
      'symmetrical composition', 'two-point perspective', 'corrected verticals',
      { t: 'low angle view', not: /low angle|above/ }, 'wide shot', 'leading lines',
      'centered framing', { t: 'dramatic upward angle', not: /above/ },
      { t: 'aerial view', not: /aerial|above|drone/ }, 'framed by trees',
    ],
    photoStyle: [
      { t: 'architectural photography', pre: 'an architectural photo of', not: /architectural/ },
      { t: 'architectural digest photo', not: /architectural/ },
      { t: 'editorial architecture photo', not: /architectural/ },
      { t: 'travel photography', pre: 'a travel photo of' },
    ],
    artStyle: [
      { t: 'architectural rendering', pre: 'an architectural rendering of', not: /architectural/ },
      { t: 'ink and watercolor sketch', pre: 'an ink and watercolor sketch of' },
      { t: 'detailed pencil drawing', pre: 'a pencil drawing of' },
      { t: 'isometric illustration', pre: 'an isometric illustration of' },
      'concept art', { t: 'oil painting', pre: 'an oil painting of' },
      { t: 'blueprint style drawing', not: /interior/ },
    ],
    camera: [
      'tilt-shift lens', '24mm lens', { t: 'wide angle', not: /\d+mm/ }, 'f/8 aperture',
      'tripod', 'high resolution',
    ],
    mood: [
      'timeless', 'grand and imposing', 'calm and serene', 'warm inviting mood', 'muted palette',
      'moody atmosphere', 'elegant and refined', 'sense of history',
    ],
  },

  creative: {
    photo: 0.1,
    detail: [
      'bold shapes', 'flowing organic forms', 'layered textures', 'crisp edges',
      'subtle gradients', 'intricate patterns', { t: 'visible brushstrokes', mode: 'art' },
      { t: 'delicate linework', mode: 'art' },
      'rich surface texture', 'dynamic movement', 'balanced contrast', 'fine speckled grain',
    ],
    setting: [
      'on a dark background', { t: 'on a cream paper background', mode: 'art' },
      { t: 'on a white canvas', mode: 'art' },
      'filling the whole frame', 'floating in empty space',
    ],
    background: ['minimal background', 'deep black backdrop', 'soft gradient backdrop'],
    lighting: [
      'soft diffused glow', 'luminous highlights', 'glowing edges', 'dramatic contrast',
      'iridescent sheen', 'soft ambient light', { t: 'neon glow', tod: 'night' },
      'inner glow', 'subtle shimmer',
    ],
    composition: [
      'centered composition', 'radial symmetry', 'asymmetrical balance',
      'dynamic diagonal composition', 'plenty of negative space', 'all-over pattern',
      'golden ratio composition', 'layered composition',
    ],
    photoStyle: [
      { t: 'experimental photography', pre: 'an experimental photo of' },
      { t: 'macro photograph', not: /macro/ }, 'studio photograph',
    ],
    artStyle: [
      { t: 'acrylic on canvas', not: /canvas/ }, { t: 'generative art', not: /\bart\b/ },
      { t: 'digital art', not: /\bart\b/ }, { t: 'mixed media collage', pre: 'a mixed media collage of', not: /collage/ },
      { t: 'screen print', pre: 'a screen print of' }, { t: 'risograph print', pre: 'a risograph print of' },
      'oil on canvas', { t: 'vector art', not: /\bart\b/ }, 'gouache on paper',
      { t: '3d render', pre: 'a 3d render of' }, 'abstract expressionism',
      'art nouveau influence', { t: 'bauhaus style', not: /bauhaus/ },
      { t: 'surrealist painting', pre: 'a surrealist painting of', not: /surreal/ },
    ],
    camera: [],
    mood: [
      { t: 'vibrant colors', not: /colors|monochrome/ }, 'harmonious palette',
      'bold complementary colors', { t: 'muted pastel palette', not: /pastel|neon/ },
      'dreamlike mood', 'energetic and chaotic', 'calm and meditative', 'high contrast palette',
      'jewel tones', { t: 'monochrome palette', not: /colors|colorful|gold|blue|purple|teal|red|neon|pastel|rainbow/ },
      'earthy tones', 'playful energy',
    ],
  },

  fantasy: {
    photo: 0.05,
    detail: [
      { t: 'intricate armor details', if: ARMORED }, { t: 'flowing robes', if: ROBED },
      { t: 'glowing runes', if: /wizard|sorceress|mage|portal|sword|necromancer|lich|stone|temple|ruins|spellbook|potion|crystal|tower|knight|witch|magic|dwarf|forge/ },
      'ornate details', { t: 'ancient weathered stone', if: /castle|tower|ruins|ruined|temple|city|stone|throne/ },
      { t: 'shimmering scales', if: SCALY }, { t: 'delicate glowing wings', if: /fairy|fairies|pixie/ },
      { t: 'feathers like embers', if: /phoenix/ }, 'magical particles in the air',
      'detailed textures', 'mysterious aura', 'tiny glowing motes',
      { t: 'worn leather and metal', if: /knight|dwarf|goblin|elf|ranger|archer|warrior|merchant|centaur|troll|apprentice|blacksmith|army/ },
      { t: 'moss-covered roots', if: /forest|tree|woods|spirit|grove|glade|mushroom|toadstool/ },
    ],
    setting: [
      'in an ancient forest', 'in a misty mountain realm', 'on a windswept cliff',
      'in a forgotten kingdom', 'beneath towering ruins', 'in a mystical valley',
    ],
    background: [
      'misty background', 'distant castle silhouettes', 'swirling clouds behind',
      'mountains fading into mist',
    ],
    lighting: [
      'ethereal glow', 'magical light', 'volumetric light rays', { t: 'pale moonlight', tod: 'night' },
      { t: 'warm torchlight', tod: 'night' }, 'dramatic backlight', { t: 'golden sunbeams', tod: 'day' },
      'soft bioluminescent glow', 'flickering firelight', 'eerie green light',
      'shafts of light through mist',
    ],
    composition: [
      'epic wide shot', { t: 'dynamic pose', if: FANTASY_BEING, not: new RegExp(`pose|${NOT_BEING.source}`) }, 'low angle heroic view',
      'cinematic composition', 'sweeping view', 'centered symmetrical framing',
      { t: 'full body shot', if: FANTASY_BEING, not: NOT_BEING },
      'dramatic perspective',
    ],
    photoStyle: [
      { t: 'cinematic film still', pre: 'a cinematic film still of' }, 'photorealistic render',
    ],
    artStyle: [
      { t: 'digital painting', pre: 'a digital painting of' },
      { t: 'fantasy concept art', pre: 'fantasy concept art of', not: /\bart\b/ },
      { t: 'matte painting', pre: 'a matte painting of', not: /painting/ },
      { t: 'oil painting', pre: 'an oil painting of', not: /painting/ },
      { t: 'storybook illustration', pre: 'a storybook illustration of', not: /illustration/ },
      { t: 'high fantasy book cover', pre: 'a high fantasy book cover of' },
      { t: 'detailed ink illustration', pre: 'an ink illustration of', not: /illustration/ },
      { t: 'watercolor illustration', pre: 'a watercolor illustration of', not: /watercolor|illustration/ },
      'painterly style', 'unreal engine render', 'art nouveau illustration',
    ],
    camera: ['anamorphic lens', '35mm film', 'deep focus'],
    mood: [
      'mystical atmosphere', { t: 'dark and foreboding', not: /fairy|unicorn|tea party|pegasus|funny|tiny|mushroom/ },
      { t: 'whimsical mood', not: DARK_FANTASY }, { t: 'epic and heroic', not: /tea party|funny|potion|tiny|fairy|mushroom|village/ },
      'enchanted mood', 'rich jewel colors', 'muted earthy palette', { t: 'dreamy pastel colors', not: DARK_FANTASY },
      'sense of wonder', 'ancient and mysterious',
    ],
  },

  animals: {
    photo: 0.8,
    detail: [
      { t: 'soft detailed fur', if: FURRY }, { t: 'individual hairs visible', if: FURRY },
      { t: 'fluffy coat', if: /kitten|puppy|husky|koala|red panda|cubs?|hedgehog|snow leopard|retriever/ },
      { t: 'intricate feather detail', if: BIRD }, { t: 'vibrant plumage', if: /parrot|peacock|hummingbird|flamingo|toucan/ },
      { t: 'glistening skin', if: /octopus|frog|whale|dolphin|seal|chameleon/ },
      { t: 'translucent body', if: /jellyfish/ }, { t: 'patterned shell', if: /turtle/ },
      'expressive eyes', 'alert expression', 'natural pose', 'lifelike detail', 'curious look',
      'sharp eyes in focus', 'anatomically accurate', 'candid behavior',
    ],
    setting: [
      { t: 'in its natural habitat', not: PET }, { t: 'in the wild', not: PET },
      { t: 'in a sunlit meadow', not: new RegExp(`${AQUATIC.source}|${SNOWY.source}|penguin|jellyfish`) },
      { t: 'on a mossy log', if: SMALL_ANIMAL },
      { t: 'in tall golden grass', if: /lion|tiger|giraffe|elephant|leopard|horse|deer|fox|wolf|cheetah/, not: SNOWY },
      { t: 'in a snowy landscape', if: /fox|wolf|husky|snow leopard|owl|bear|penguin|polar|deer/ },
      { t: 'on a cozy blanket at home', if: PET }, { t: 'in a sunny living room', if: PET },
      { t: 'in clear blue water', if: AQUATIC }, { t: 'over a colorful coral reef', if: AQUATIC, not: /reef/ },
      { t: 'in the deep ocean', if: AQUATIC }, { t: 'perched on a branch', if: BIRD, not: /penguin|flamingo|duck/ },
      { t: 'in a lush garden', if: new RegExp(`${BIRD.source}|${PET.source}`), not: /penguin/ },
      { t: 'in a bamboo grove', if: /panda/ }, { t: 'in a eucalyptus tree', if: /koala/ },
    ],
    background: [
      'softly blurred background', 'muted natural background', 'clean uncluttered background',
      'gentle background bokeh',
    ],
    lighting: [
      { t: 'soft morning light', tod: 'day' }, { t: 'golden hour backlight', tod: 'golden' },
      { t: 'dappled sunlight', tod: 'day' }, { t: 'overcast natural light', tod: 'day' },
      { t: 'warm evening glow', tod: 'golden' }, { t: 'rim light on the fur', if: FURRY },
      'soft diffused light', { t: 'cool moonlight', tod: 'night' },
      { t: 'sunlight filtering through the water', if: AQUATIC, not: /dark/ },
      { t: 'bright natural daylight', tod: 'day' },
    ],
    composition: [
      'eye-level shot', 'close-up portrait', 'full body in frame', 'rule of thirds',
      { t: 'low angle', not: /low angle|flying low/ },
      { t: 'animal looking into the camera', not: /looking|staring|sleeping|hiding/ },
      'negative space around the subject', 'tight crop on the face',
    ],
    photoStyle: [
      { t: 'wildlife photography', pre: 'a wildlife photo of', not: PET },
      { t: 'national geographic photo', pre: 'a national geographic photo of', not: PET },
      { t: 'pet photography', pre: 'a pet portrait of', if: PET },
      { t: 'nature documentary still', not: PET }, 'award-winning animal photo',
    ],
    artStyle: [
      { t: 'watercolor painting', pre: 'a watercolor painting of' },
      { t: 'detailed pencil drawing', pre: 'a pencil drawing of' },
      { t: 'digital painting', pre: 'a digital painting of' },
      { t: "children's book illustration", pre: "a children's book illustration of" },
      { t: 'oil painting', pre: 'an oil painting of' },
      { t: 'japanese woodblock print', pre: 'a japanese woodblock print of' },
      { t: 'low poly art', pre: 'low poly art of' },
    ],
    camera: [
      { t: '400mm telephoto lens', not: /\d+mm|macro|kitten|puppy|teacup|basket/ },
      { t: '300mm lens', not: /\d+mm|macro/ }, 'f/2.8 aperture', 'fast shutter speed',
      'nikon d850', { t: 'macro lens', if: /hummingbird|frog|chameleon|hedgehog|jellyfish|squirrel/, not: /macro/ },
      { t: 'underwater housing', if: AQUATIC },
    ],
    mood: [
      'peaceful mood', { t: 'wild and majestic', not: PET }, 'playful mood', 'tender moment',
      'warm natural tones', { t: 'cool wintry tones', if: SNOWY }, 'vivid colors',
      'calm atmosphere', 'intimate glimpse',
    ],
  },

  food: {
    photo: 0.9,
    detail: [
      'glistening textures', 'fresh ingredients',
      { t: 'crispy golden edges', if: /pizza|bread|loaves|croissants?|burger|cheeseburger|tacos|dumplings|cinnamon|pancakes|steak/ },
      { t: 'steam rising', if: HOT_FOOD, not: /iced|steam|ice cream/ },
      { t: 'garnished with fresh herbs', if: SAVORY, not: SWEET },
      { t: 'dusted with powdered sugar', if: /cake|pancakes|donuts?|croissants?|tart|waffles?|cupcake|cinnamon/ },
      { t: 'glossy glaze', if: /donuts?|tart|cinnamon|cake|pastry/ },
      { t: 'condensation on the glass', if: COLD_DRINK },
      { t: 'perfectly plated', not: new RegExp(`${DRINK.source}|basket|board|market|stall|tray|pan|box`) },
      'rich vibrant colors', 'appetizing', 'homemade look',
      { t: 'delicate crumbs', if: /bread|loaves|croissants?|cake|cookies?|pastry|tart|cinnamon|muffin/ },
      { t: 'juicy and tender', if: /steak|burger|cheeseburger|tacos|turkey/ },
    ],
    setting: [
      'on a rustic wooden table', 'on a marble countertop', 'on a linen napkin',
      { t: 'on a dark slate board', not: DRINK }, 'in a cozy cafe',
      { t: 'on a ceramic plate', not: new RegExp(`${DRINK.source}|bowl|board|box|basket|pan|tray|cones`) },
      'on a kitchen counter',
    ],
    background: [
      'blurred kitchen in the background', 'dark moody backdrop', 'simple neutral backdrop',
      'softly blurred background',
    ],
    lighting: [
      'soft natural window light', 'warm side light',
      { t: 'backlit to show the steam', if: HOT_FOOD, not: /iced|ice cream|steam/ },
      { t: 'bright airy daylight', tod: 'day' }, 'moody low-key light', 'soft diffused light',
      { t: 'golden afternoon light', tod: 'day' }, { t: 'warm candlelight', tod: 'night' },
      'studio lighting', 'gentle shadows',
    ],
    composition: [
      { t: 'overhead flat lay', not: /overhead|top view/ }, '45 degree angle', 'close-up',
      'eye-level shot', 'tight crop', 'arranged with props', 'minimalist plating',
      'hero shot', 'rule of thirds',
    ],
    photoStyle: [
      { t: 'food photography', pre: 'a food photo of' },
      { t: 'editorial food photo', pre: 'an editorial food photo of' },
      { t: 'cookbook photograph', pre: 'a cookbook photo of' }, 'restaurant menu photo',
      { t: 'food magazine shot', pre: 'a food magazine shot of' },
    ],
    artStyle: [
      { t: 'watercolor food illustration', pre: 'a watercolor illustration of' },
      { t: 'gouache painting', pre: 'a gouache painting of' },
      { t: 'flat vector illustration', pre: 'a flat vector illustration of' },
      { t: 'colored pencil drawing', pre: 'a colored pencil drawing of' },
      'cozy anime style', { t: 'still life oil painting', pre: 'a still life painting of' },
    ],
    camera: [
      { t: '100mm macro lens', not: /\d+mm/ }, { t: '50mm lens', not: /\d+mm/ },
      { t: 'shallow depth of field', not: /depth of field/ }, 'f/2.8', 'f/4 aperture',
    ],
    mood: [
      'warm and inviting', 'fresh and bright', 'cozy mood', 'rustic feel', 'vivid colors',
      'moody dark tones', 'mouth-watering', 'comforting',
    ],
  },

  vehicles: {
    photo: 0.85,
    detail: [
      { t: 'glossy paint reflections', not: new RegExp(`${WATERCRAFT.source}|rusty|mud|balloons?|overgrown`) },
      { t: 'chrome details', if: /vintage|classic|muscle|convertible|vespa|motorcycle|car|truck|bus|taxi/, not: /cable car|rusty|mud/ },
      { t: 'weathered metal', if: /rusty|old|vintage|steam|tractor|tank|cargo|locomotive/ },
      'realistic proportions', 'fine mechanical details',
      { t: 'sleek lines', if: /sports|race|racing|formula|jet|electric|yacht|speedboat|motorcycle|bike/ },
      'accurate engineering details', 'polished details',
      { t: 'billowing sails', if: /sailboat/ }, { t: 'rivets and panel lines', if: /airplane|plane|jet|submarine|tank|helicopter/ },
    ],
    setting: [
      { t: 'on an empty mountain road', not: NOT_ROAD }, { t: 'on a wet city street', not: NOT_ROAD },
      { t: 'on a coastal highway', not: NOT_ROAD }, { t: 'on a dusty desert track', not: NOT_ROAD },
      { t: 'on calm open water', if: WATERCRAFT, not: /submarine/ }, { t: 'in a quiet harbor', if: WATERCRAFT },
      { t: 'on a glassy sea', if: WATERCRAFT, not: /submarine|canoe/ }, { t: 'in the deep blue ocean', if: /submarine/ },
      { t: 'against a clear blue sky', if: AIRCRAFT, tod: 'day' }, { t: 'above the clouds', if: AIRCRAFT },
      { t: 'over rolling countryside', if: AIRCRAFT }, { t: 'on tracks through the countryside', if: RAIL, not: /tram|cable car/ },
      { t: 'at an old railway platform', if: /train|locomotive/ }, { t: 'on a narrow old town street', if: /tram/ },
      { t: 'high above a valley', if: /cable car/ }, { t: 'in a muddy field', if: /tank|tractor/ },
      'in a scenic location',
    ],
    background: [
      'blurred background', 'scenery in the distance', 'clean background',
      { t: 'motion-blurred surroundings', not: /parked|blur|charging|canoe|sailboat|yacht|balloons?|submarine|tractor|cable car|tram|cargo|overgrown/ },
    ],
    lighting: [
      { t: 'golden hour light', tod: 'golden' }, { t: 'dramatic sunset backlight', tod: 'golden' },
      { t: 'soft overcast light', tod: 'day' }, { t: 'neon reflections', tod: 'night', not: /neon/ },
      { t: 'crisp daylight', tod: 'day' }, { t: 'headlights glowing', tod: 'night', not: NOT_ROAD },
      { t: 'studio lighting', not: /\b(in|on|at|over|by|through|along|across)\b/ },
      { t: 'hard sunlight', tod: 'day' }, { t: 'moody dusk light', tod: 'golden' },
      { t: 'streetlight glow', tod: 'night', not: NOT_ROAD }, 'dramatic clouds overhead',
    ],
    composition: [
      'three-quarter front view', { t: 'low angle shot', not: /low angle/ }, 'side profile',
      'wide shot', 'dynamic angle', 'rule of thirds', 'centered composition',
      { t: 'aerial view', not: /aerial|above/ }, { t: 'tracking shot', not: /parked|charging/ },
    ],
    photoStyle: [
      { t: 'automotive photography', not: NOT_ROAD, pre: 'an automotive photo of' },
      { t: 'commercial photo shoot', not: /rusty|abandoned|mud/ }, 'editorial photo',
      { t: 'travel photograph', pre: 'a travel photo of' },
      { t: 'aviation photography', if: AIRCRAFT }, { t: 'maritime photography', if: WATERCRAFT },
      { t: 'railway photography', if: RAIL },
    ],
    artStyle: [
      { t: 'detailed digital illustration', pre: 'a digital illustration of' },
      { t: 'vintage travel poster', pre: 'a vintage travel poster of' },
      { t: 'watercolor painting', pre: 'a watercolor painting of' },
      'blueprint style', 'retro comic style', { t: 'oil painting', pre: 'an oil painting of' },
      'cel-shaded illustration', 'concept art',
    ],
    camera: [
      { t: 'panning shot with motion blur', not: new RegExp(`${NOT_ROAD.source}|parked|blur|charging`) },
      { t: '35mm lens', not: /\d+mm/ }, '70-200mm lens', 'f/4 aperture', 'fast shutter speed',
      'polarizer filter',
    ],
    mood: [
      { t: 'sense of speed', if: /race|racing|formula|jet|sports|motorcycle|speedboat|muscle|chase|rider/ },
      'nostalgic mood', 'adventurous mood', 'sleek and modern', 'gritty and rugged',
      'cinematic atmosphere', 'vivid colors', 'muted retro tones', 'sense of freedom',
    ],
  },

  interior: {
    photo: 0.85,
    detail: [
      'natural wood textures', 'soft linen textures', 'carefully styled decor',
      { t: 'indoor plants', not: /plants?|greenhouse/ }, 'layered rugs and throws',
      { t: 'warm wood floors', not: /gym|bathroom/ }, 'tasteful furniture', 'clean surfaces',
      'cozy textiles', 'lived-in details', { t: 'books on the shelves', not: /library|books?|bookshelves/ },
      'brass accents',
    ],
    setting: [
      { t: 'with a view of the garden', not: /city|tokyo|apartment|loft/ }, 'with large windows',
      'seen through an open doorway', { t: 'with high ceilings', not: /attic|camper|tiny|closet|nook/ },
      { t: 'with a city view', if: /apartment|loft|office|hotel|studio|gym|bar/ },
      { t: 'on a quiet afternoon', tod: 'day' }, { t: 'with a window seat', if: /bedroom|nook|library|study|attic|nursery/ },
    ],
    background: ['tidy background', 'view through the windows', 'soft background'],
    lighting: [
      'soft window light', { t: 'warm lamp light', tod: 'night' },
      { t: 'morning sun streaming in', tod: 'day' }, 'cozy ambient lighting',
      { t: 'natural daylight', tod: 'day' }, 'recessed lighting', { t: 'candlelight', tod: 'night' },
      { t: 'warm evening glow', tod: 'golden' }, 'soft diffused light', 'pendant lights glowing',
      { t: 'dappled light through curtains', tod: 'day' },
    ],
    composition: [
      'wide angle interior shot', 'one-point perspective', 'eye-level view', 'corner view',
      'symmetrical composition', 'straight verticals', 'view from the doorway',
    ],
    photoStyle: [
      { t: 'interior design photography', pre: 'an interior design photo of' },
      { t: 'architectural digest style photo', pre: 'an architectural digest photo of' },
      'real estate photography', { t: 'editorial interior photo', pre: 'an editorial photo of' },
      { t: 'scandinavian design magazine photo', not: /scandinavian/ },
    ],
    artStyle: [
      { t: '3d render', pre: 'a 3d render of' }, { t: 'isometric illustration', pre: 'an isometric illustration of' },
      { t: 'watercolor sketch', pre: 'a watercolor sketch of' }, 'cozy anime background',
      { t: 'architectural visualization', pre: 'an architectural visualization of' },
      { t: 'gouache illustration', pre: 'a gouache illustration of' }, 'vray render',
    ],
    camera: ['16mm wide angle lens', '24mm lens', 'f/8', 'hdr', 'tripod'],
    mood: [
      'cozy atmosphere', 'calm and minimal', 'warm and inviting', { t: 'airy and bright', tod: 'day', not: /night|dark|dim/ },
      'moody and intimate', 'earthy tones', 'neutral palette', 'hygge mood', 'quiet and relaxed',
    ],
  },

  scifi: {
    photo: 0.15,
    detail: [
      { t: 'intricate mechanical details', if: SCI_TECH }, { t: 'glowing panels', if: SCI_TECH },
      { t: 'weathered metal plating', if: SCI_TECH }, { t: 'holographic displays', if: SCI_TECH, not: /holo/ },
      { t: 'sleek futuristic design', if: SCI_TECH }, { t: 'cables and machinery', if: SCI_TECH },
      { t: 'emissive lights', if: SCI_TECH }, { t: 'scratched hull', if: /spaceship|starship|ship/ },
      'tiny figures for scale', { t: 'advanced technology', if: SCI_TECH }, { t: 'hard surface detail', if: SCI_TECH },
      { t: 'swirling gas clouds', if: /nebula|black hole|wormhole|galaxy|dyson/ },
      { t: 'glowing accretion disk', if: /black hole/ }, { t: 'strange alien flora', if: /alien|jungle|exoplanet|planet/, not: /space station|orbit/ },
      { t: 'glittering stars', if: COSMIC, not: /stars/ }, { t: 'otherworldly textures', if: COSMIC },
    ],
    setting: [
      { t: 'in deep space', if: SPACE }, { t: 'on a distant alien world', not: SPACE },
      { t: 'in a sprawling megacity', not: new RegExp(`${SPACE.source}|${PLANET_SURFACE.source}|megacity`) },
      { t: 'in an abandoned research facility', not: SPACE },
      { t: 'on a barren desert planet', not: new RegExp(`${SPACE.source}|city|cyberpunk`) },
      { t: 'in orbit above a gas giant', if: SPACE },
    ],
    background: [
      { t: 'starfield in the background', not: /stars/ }, 'distant planets on the horizon',
      'hazy city lights behind', { t: 'nebula in the sky', not: /nebula/ },
    ],
    lighting: [
      { t: 'neon lighting', tod: 'night', not: /neon/ }, 'cold blue light', 'rim lighting',
      'volumetric lighting', 'harsh starlight', 'teal and orange lighting', 'dramatic backlight',
      'flickering fluorescent light', 'soft ambient glow', { t: 'lens flare', not: /flare/ },
    ],
    composition: [
      'epic wide shot', { t: 'low angle shot', not: /low angle/ }, 'cinematic composition',
      'symmetrical framing', 'sense of vast scale', 'close-up', 'dutch angle',
      'wide establishing shot',
    ],
    photoStyle: [
      { t: 'cinematic film still', pre: 'a cinematic film still of', not: /cinematic/ },
      { t: 'photorealistic', not: /photorealistic/ },
    ],
    artStyle: [
      { t: 'sci-fi concept art', pre: 'sci-fi concept art of' },
      { t: 'digital painting', pre: 'a digital painting of' },
      { t: 'retro futurism illustration', pre: 'a retro futurist illustration of', not: /retro/ },
      { t: '3d render', pre: 'a 3d render of' }, { t: 'matte painting', pre: 'a matte painting of' },
      { t: 'cyberpunk illustration', if: /cyberpunk|neon|hacker|megacity/ }, 'octane render',
      { t: '80s sci-fi book cover', pre: 'an 80s sci-fi book cover of' }, 'unreal engine 5',
    ],
    camera: ['anamorphic lens', '35mm film still', 'wide angle lens', 'shallow depth of field'],
    mood: [
      'awe-inspiring', 'lonely atmosphere', 'dystopian mood', 'hopeful utopian mood',
      'mysterious mood', 'cold color palette', 'neon color palette', 'gritty and dark',
      'teal and magenta palette', 'quiet sense of isolation',
    ],
  },
};
