"""Street-type words by language, the vocabulary the address recognizer's patterns are built from
(general vocabularies, not lists of known streets)."""

# USPS street suffixes (each may take a plural "s") plus common British ones
EN_TYPES = """
    Street St Avenue Ave Road Rd Lane Ln Drive Dr Boulevard Blvd Court Ct Place Pl Way
    Terrace Close Crescent Square Sq Parkway Pkwy Highway Hwy Alley Circle Cir Trail Row
    Hill Gardens Mews Grove Park Walk Green Gate Rise View Vista Ridge Path Pike Plaza
    Heights Crossing Crossroad Loop Run Point Port Harbor Harbour Estate Village Junction
    Extension Expressway Freeway Throughway Turnpike Trafficway Light Ferry Ford Fork Falls
    Fall Field Glen Haven Island Isle Key Knoll Lake Landing Manor Meadow Mill Mission Mount
    Mountain Neck Orchard Oval Overpass Pass Passage Pine Plain Prairie Radial Ramp Ranch
    Rapid Rest River Route Shoal Shore Skyway Spring Spur Station Stravenue Stream Summit
    Trace Track Tunnel Underpass Union Valley Viaduct Ville Wall Well Burg Bypass Camp
    Canyon Cape Causeway Center Centre Cliff Club Common Corner Course Cove Creek Crest
    Curve Dale Dam Divide Flat Forest Forge Fort Garden Gateway Hollow Inlet Lock Lodge Loaf
    Mall Motorway Parade Bank Broadway Embankment Approach Wharf Yard Brook Bluff Bottom
    Branch Bridge Heath Drove Chase
""".split()
ROMANCE_TYPES = """
    Via Viale Piazza Piazzale Corso Largo Vicolo Strada Borgo Contrada Rotonda Stretto
    Canale Incrocio Lungomare Calle Avenida Avda. Paseo Plaza Camino Carrer Carretera Ronda
    Rambla Travesía Callejón Glorieta Urbanización Cañada Alameda Acceso Vial Pasaje
    Pasadizo Cuesta Ruta Senda Partida Plazuela Praza Rúa
""".split()
FR_TYPES = """
    rue avenue av. boulevard bd chemin place allée impasse quai route cours square voie
    passage
""".split()
GERMANIC_TYPES = """
    straße strasse str. weg gasse allee platz ring damm ufer chaussee steig pfad markt
    straat laan plein singel gracht kade dijk steeg hof pad dreef baan park plantsoen
""".split()
