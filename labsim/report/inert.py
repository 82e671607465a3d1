"""Outside text made inert for each report format.

Step names, headers, bodies, a program's stderr, JSON keys found by `--follow`, error texts:
any of them can hold rich markup (`[/]` raises MarkupError and loses the run's reports),
terminal escape sequences (ESC ]0;title BEL retitles the user's terminal, ESC [2J clears
it), NUL, or lone surrogates (which no UTF-8 file or terminal accepts).

    visible(s)     control characters and lone surrogates shown as \\xNN / \\uXXXX
    inert(s)       visible, then markup-escaped: safe anywhere in a rich markup string
    inert_text(s)  a rich Text of it (what tables and prints take), never emoji-replaced
    xml_text(s)    what XML 1.0 forbids shown as \\xNN / \\uXXXX (text and attributes)
    xml_safe(el)   xml_text applied to a whole ElementTree: every text, tail, attribute
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from rich.text import Text

# C0 but newline and tab, DEL, C1, and lone surrogates (a JSON "\ud800" decodes to one)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# XML 1.0 §2.2 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# markup tag that opens and closes nothing visible: see inert()
_NO_OP_TAG = "[none][/none]"


def _shown(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(value: object, newlines: bool = True) -> str:
    """`value` as text whose control characters are shown, not obeyed: ESC becomes the four
    characters \\x1b. Newline and tab stay (unless `newlines` is False: a one-line field)."""
    return (_CONTROL if newlines else _CONTROL_LINE).sub(_shown, str(value))


# what rich reads as a tag: `[` then a letter, #, / or @, up to the next `]` (rich.markup)
_TAG_LIKE = re.compile(r"\[[a-z#/@][^[]*?]")


def _literal_markup(text: str) -> str:
    """Markup that rich renders back as exactly `text`. rich.markup.escape is not enough: rich
    also drops one backslash before every `[` of plain text (its renderer replaces "\\[" with
    "["), so text holding a backslash before a bracket lost it (a property test found
    "\\[" shown as "["). Before each `[` preceded by n backslashes: 2n+1 of them where rich
    would read a tag (n shown, the tag escaped), n+1 elsewhere (n shown)."""
    out: list[str] = []
    i = 0
    for m in re.finditer(r"(\\*)\[", text):
        n = len(m.group(1))
        out.append(text[i:m.start()])
        tag = _TAG_LIKE.match(text, m.end() - 1) is not None
        out.append("\\" * (2 * n + 1 if tag else (n + 1 if n else 0)) + "[")
        i = m.end()
    out.append(text[i:])
    return "".join(out)


def inert(value: object, newlines: bool = True) -> str:
    """`value` for a rich markup string: control characters shown, markup escaped. It reads
    back exactly as visible(value) wherever it stands, even right before a tag."""
    text = visible(value, newlines)
    head = text.rstrip("\\")
    tail = text[len(head):]
    if not tail:
        return _literal_markup(head)
    # backslashes count as escapes only right before a tag, so a trailing run would read
    # differently at the end of a string ("\\" shows two) than before "[/]" (it shows one, or
    # escapes the tag when odd): doubled and followed by a no-op tag, it always shows as given
    return _literal_markup(head) + tail * 2 + _NO_OP_TAG


def inert_text(value: object, style: str = "", newlines: bool = True) -> Text:
    """`value` as a rich Text (for a table cell or Text.assemble): no markup and no :emoji:
    codes are read in it, and its control characters are shown."""
    return Text.from_markup(inert(value, newlines), style=style, emoji=False)


def xml_text(value: object) -> str:
    """`value` with every character XML 1.0 forbids (NUL, ESC, other C0 but tab, newline and
    CR; lone surrogates; U+FFFE, U+FFFF) shown as \\xNN / \\uXXXX, so the file stays
    well-formed; ElementTree escapes the rest (&, <, quotes)."""
    return _NOT_XML.sub(_shown, str(value))


def xml_safe(root: ET.Element) -> ET.Element:
    """Every text, tail, attribute name and value under `root` through xml_text: one pass
    over the finished tree, so no field added later can slip past."""
    for el in root.iter():
        if el.text:
            el.text = xml_text(el.text)
        if el.tail:
            el.tail = xml_text(el.tail)
        if el.attrib:
            el.attrib = {xml_text(k): xml_text(v) for k, v in el.attrib.items()}
    return root
