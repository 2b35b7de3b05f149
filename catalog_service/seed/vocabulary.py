"""French vocabulary of the demo set: matières per filière and niveau, names, comments."""

from shared.enums import EpreuveType, Filiere, Niveau

MATIERES: dict[Filiere, dict[Niveau, tuple[str, ...]]] = {
    Filiere.MATH: {
        Niveau.L1: ("Analyse 1", "Algèbre 1", "Logique et raisonnement"),
        Niveau.L2: ("Analyse 2", "Algèbre linéaire", "Probabilités"),
        Niveau.L3: ("Intégration et mesure", "Topologie", "Statistique inférentielle"),
        Niveau.M1: (
            "Analyse fonctionnelle",
            "Équations aux dérivées partielles",
            "Processus stochastiques",
        ),
        Niveau.M2: ("Optimisation", "Analyse numérique", "Géométrie différentielle"),
    },
    Filiere.INFO: {
        Niveau.L1: (
            "Introduction à la programmation",
            "Architecture des ordinateurs",
            "Mathématiques discrètes",
        ),
        Niveau.L2: ("Algorithmique", "Bases de données", "Programmation orientée objet"),
        Niveau.L3: ("Systèmes d'exploitation", "Réseaux", "Théorie des langages"),
        Niveau.M1: ("Compilation", "Intelligence artificielle", "Génie logiciel"),
        Niveau.M2: ("Apprentissage automatique", "Systèmes distribués", "Sécurité informatique"),
    },
    Filiere.PHYSIQUE: {
        Niveau.L1: ("Mécanique du point", "Optique géométrique", "Électrocinétique"),
        Niveau.L2: ("Électromagnétisme", "Thermodynamique", "Ondes et vibrations"),
        Niveau.L3: ("Mécanique quantique", "Physique statistique", "Relativité restreinte"),
        Niveau.M1: ("Physique du solide", "Mécanique des fluides", "Physique nucléaire"),
        Niveau.M2: ("Physique des particules", "Astrophysique", "Physique des matériaux"),
    },
    Filiere.CHIMIE: {
        Niveau.L1: ("Atomistique", "Chimie générale", "Thermochimie"),
        Niveau.L2: ("Chimie organique", "Chimie des solutions", "Cinétique chimique"),
        Niveau.L3: ("Chimie inorganique", "Spectroscopie", "Chimie analytique"),
        Niveau.M1: ("Chimie quantique", "Électrochimie", "Chimie des polymères"),
        Niveau.M2: ("Catalyse", "Chimie supramoléculaire", "Chimie verte"),
    },
}

TYPE_LABELS: dict[EpreuveType, str] = {
    EpreuveType.PARTIEL: "Partiel",
    EpreuveType.EXAMEN: "Examen",
    EpreuveType.TD: "TD",
    EpreuveType.CC: "Contrôle continu",
    EpreuveType.RATTRAPAGE: "Rattrapage",
}

# Share of each type among the papers of the bank.
TYPE_WEIGHTS: dict[EpreuveType, float] = {
    EpreuveType.PARTIEL: 0.25,
    EpreuveType.EXAMEN: 0.30,
    EpreuveType.TD: 0.20,
    EpreuveType.CC: 0.15,
    EpreuveType.RATTRAPAGE: 0.10,
}

# Students by niveau (more in licence than in master) and by filière.
NIVEAU_WEIGHTS: dict[Niveau, float] = {
    Niveau.L1: 0.28, Niveau.L2: 0.24, Niveau.L3: 0.20, Niveau.M1: 0.16, Niveau.M2: 0.12,
}  # fmt: skip
FILIERE_WEIGHTS: dict[Filiere, float] = {
    Filiere.MATH: 0.30, Filiere.INFO: 0.30, Filiere.PHYSIQUE: 0.20, Filiere.CHIMIE: 0.20,
}  # fmt: skip

FIRST_NAMES = (
    "Aïcha", "Koffi", "Fatou", "Mathieu", "Inès", "Yao", "Chloé", "Ibrahim", "Léa", "Sèna",
    "Hugo", "Mariam", "Lucas", "Adjoa", "Emma", "Moussa", "Camille", "Rodrigue", "Sarah",
    "Olivier", "Nadia", "Kevin", "Awa", "Thomas", "Grâce", "Julien", "Fatima", "Romaric",
    "Manon", "Serge", "Clarisse", "Abdou", "Élodie", "Firmin", "Aminata", "Nicolas", "Joëlle",
    "Cédric", "Rachida", "Bienvenu",
)  # fmt: skip
LAST_NAMES = (
    "Adjovi", "Martin", "Houngbo", "Bernard", "Dossou", "Dubois", "Agossou", "Moreau",
    "Kpadonou", "Laurent", "Sossa", "Lefèvre", "Ahouansou", "Girard", "Zinsou", "Bonnet",
    "Gbaguidi", "Fontaine", "Akpovi", "Rousseau", "Tossou", "Mercier", "Hounkpatin", "Blanc",
    "Amoussou", "Garnier", "Kiki", "Faure", "Assogba", "André",
)  # fmt: skip

COMMENTS_GOOD = (
    "Très utile pour réviser, merci !",
    "Sujet bien construit, il couvre tout le programme.",
    "Excellent entraînement avant le partiel.",
    "Les exercices sont progressifs, parfait pour s'entraîner.",
    "Je recommande, surtout la dernière partie.",
    "Un classique à faire absolument avant l'examen.",
)
COMMENTS_MIXED = (
    "Quelqu'un a la correction de l'exercice 2 ?",
    "La question 3 est ambiguë, il manque une hypothèse.",
    "Sujet long : difficile à finir en deux heures.",
    "Bon sujet, mais la correction serait bienvenue.",
    "L'exercice 1 ressemble beaucoup à celui du TD.",
)
COMMENTS_POOR = (
    "Scan peu lisible en bas de la page.",
    "Sujet trop éloigné du cours de cette année.",
    "Pas très utile pour préparer l'examen.",
)

EXERCISES: dict[Filiere, tuple[str, ...]] = {
    Filiere.MATH: (
        r"Étudier la convergence de la série $\sum_{n \geq 1} \frac{(-1)^n}{\sqrt{n}}$.",
        r"Calculer $\int_0^1 x^2 e^{x}\,dx$ par intégrations par parties.",
        r"Montrer que $A \in M_n(\mathbb{R})$ symétrique est diagonalisable.",
        r"Soit $X \sim \mathcal{N}(0,1)$ : calculer $E[X^4]$.",
        r"Déterminer le noyau et l'image de $f(x, y) = (x + y, 2x + 2y)$.",
        r"Résoudre l'équation différentielle $y'' + y = \cos t$.",
    ),
    Filiere.INFO: (
        "Écrire un algorithme de tri fusion et prouver sa complexité.",
        "Donner le schéma relationnel et les requêtes SQL demandées.",
        "Construire l'automate minimal reconnaissant le langage donné.",
        "Implémenter un parcours en largeur d'un graphe orienté.",
        "Analyser l'interblocage entre les processus P1, P2 et P3.",
        "Calculer le masque de sous-réseau et les adresses de diffusion.",
    ),
    Filiere.PHYSIQUE: (
        r"Un point matériel de masse $m$ glisse sans frottement : trouver $v(t)$.",
        r"Établir l'équation de propagation de $\vec{E}$ dans le vide.",
        r"Calculer la variation d'entropie $\Delta S$ d'un gaz parfait.",
        r"Résoudre l'équation de Schrödinger pour un puits infini de largeur $a$.",
        "Tracer la marche des rayons à travers la lentille mince.",
        r"Déterminer l'impédance complexe $Z(\omega)$ du circuit RLC.",
    ),
    Filiere.CHIMIE: (
        r"Équilibrer la réaction d'oxydoréduction de $MnO_4^-$ en milieu acide.",
        "Donner le mécanisme de la substitution nucléophile SN2.",
        r"Calculer le pH d'une solution d'acide acétique à $10^{-2}$ mol/L.",
        "Établir la loi de vitesse à partir des données cinétiques.",
        "Attribuer les signaux du spectre RMN du composé A.",
        r"Déterminer $\Delta_r H^\circ$ par la loi de Hess.",
    ),
}
