"""Score terms, registered explicitly: a new term is one file plus one line here."""

from brandmatch.models.terms.base import VIEW_INPUTS, VIEW_ORDER, Accounts, FitContext, ScoreTerm  # noqa: F401
from brandmatch.models.terms.bilinear import BilinearTerm
from brandmatch.models.terms.category import CategoryTerm
from brandmatch.models.terms.cosine import CosineTerm
from brandmatch.models.terms.hubness import HubnessTerm
from brandmatch.models.terms.kinds import KindsTerm
from brandmatch.models.terms.profile import ProfileTerm
from brandmatch.models.terms.tower import TowerTerm

#: term kind -> class; the order is the order of parts in ``embed`` (c, au, att first)
TERMS: dict[str, type[ScoreTerm]] = {
    TowerTerm.kind: TowerTerm,
    CosineTerm.kind: CosineTerm,
    CategoryTerm.kind: CategoryTerm,
    ProfileTerm.kind: ProfileTerm,
    BilinearTerm.kind: BilinearTerm,
    KindsTerm.kind: KindsTerm,
    HubnessTerm.kind: HubnessTerm,
}
