"""Click models for web search: PBM, CM, DCM, UBM, DBN and SDBN (see :mod:`.base` for the shared
definitions of fitting, log-likelihood and perplexity)."""

from distillrank.feedback.click_models.base import PROB_MIN, ClickModel, Sessions, encode_sessions
from distillrank.feedback.click_models.cascade import CascadeFamily, CascadeModel
from distillrank.feedback.click_models.dbn import DBN, SDBN
from distillrank.feedback.click_models.dcm import DCM
from distillrank.feedback.click_models.pbm import PBM
from distillrank.feedback.click_models.ubm import UBM

CLICK_MODELS: dict[str, type[ClickModel]] = {
    "pbm": PBM,
    "cm": CascadeModel,
    "dcm": DCM,
    "ubm": UBM,
    "dbn": DBN,
    "sdbn": SDBN,
}
"""Click models by name."""

__all__ = [
    "CLICK_MODELS",
    "DBN",
    "DCM",
    "PBM",
    "PROB_MIN",
    "SDBN",
    "UBM",
    "CascadeFamily",
    "CascadeModel",
    "ClickModel",
    "Sessions",
    "encode_sessions",
]
