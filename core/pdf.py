"""The Chinese font every PDF of the platform embeds.

PDF readers are not guaranteed to have a Chinese font (reportlab's built-in
CID fonts such as STSong-Light are only referenced, never embedded), so the
platform ships WenQuanYi Zen Hei (GPL-2 with the font embedding exception;
see assets/fonts/wqy-zenhei.COPYRIGHT) and reportlab embeds the subset of
glyphs each document uses.
"""

from __future__ import annotations

from pathlib import Path

FONT_NAME = "SunbidCJK"
FONT_PATH = Path(__file__).resolve().parent.parent / "assets" / "fonts" / "wqy-zenhei.ttc"


def register_cjk_font() -> str:
    """Register the embedded Chinese font with reportlab once; return its name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH), subfontIndex=0))
    return FONT_NAME
