#!/usr/bin/env python3
"""md2man.py SOURCE.md OUT NAME SECTION DESCRIPTION: one man page from one of our Markdown docs.

The docs are the single source: the man pages are made from them at build time, so the two
cannot drift apart. Only the Markdown our docs use is understood: headings (#, ##, ###),
paragraphs, "- " lists, fenced code blocks, pipe tables, `code`, **bold**, *emphasis* and
[links](target). A table becomes one tagged paragraph per row (the first cell as the tag, the
other cells as "Header: value" lines), which reads well at any terminal width.
"""
import re
import sys


def inline(text):
    text = text.replace("\\", "\\e")
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", text)
    return text


def line_out(text):
    # A line may not start with a control character of roff.
    if text.startswith((".", "'")):
        return "\\&" + text
    return text


def cells(row):
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    parts = re.split(r"(?<!\\)\|", row)
    return [p.strip().replace("\\|", "|") for p in parts]


def convert(lines, name, section, description):
    out = [f'.TH "{name.upper()}" "{section}" "" "vpnpeer" "vpnpeer"',
           ".SH NAME", f"{name} \\- {description}"]
    i = 0
    # The document's own title is replaced by NAME.
    if lines and lines[0].startswith("# "):
        i = 1
    para = []

    def flush():
        if para:
            out.append(".PP")
            out.extend(line_out(inline(p)) for p in para)
            para.clear()

    while i < len(lines):
        raw = lines[i].rstrip("\n")
        stripped = raw.strip()
        if stripped.startswith("```"):
            flush()
            out.append(".PP")
            out.append(".nf")
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                out.append(line_out(lines[i].rstrip("\n").replace("\\", "\\e")))
                i += 1
            out.append(".fi")
            i += 1
            continue
        if stripped.startswith("### "):
            flush()
            out.append(f".SS {inline(stripped[4:])}")
        elif stripped.startswith("## "):
            flush()
            out.append(f'.SH "{inline(stripped[3:].upper())}"')
        elif stripped.startswith("# "):
            flush()
            out.append(f'.SH "{inline(stripped[2:].upper())}"')
        elif stripped.startswith("|"):
            flush()
            header = cells(stripped)
            i += 1
            if i < len(lines) and re.match(r"^\|?[\s:|-]+\|?$", lines[i].strip()):
                i += 1
            while i < len(lines) and lines[i].strip().startswith("|"):
                row = cells(lines[i])
                out.append(".TP")
                out.append(line_out(inline(row[0])))
                for h, v in zip(header[1:], row[1:]):
                    if v:
                        out.append(line_out(inline(f"{h}: {v}" if h else v)))
                        out.append(".br")
                if out[-1] == ".br":
                    out.pop()
                i += 1
            continue
        elif re.match(r"^\s*[-*] ", raw):
            flush()
            item = [re.sub(r"^\s*[-*] ", "", raw).strip()]
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip() and \
                    not re.match(r"^\s*[-*] ", lines[i]):
                item.append(lines[i].strip())
                i += 1
            out.append(".IP \\(bu 2")
            out.extend(line_out(inline(t)) for t in item)
            continue
        elif not stripped:
            flush()
        else:
            para.append(stripped)
        i += 1
    flush()
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 6:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    source, target, name, section, description = argv[1:]
    with open(source, encoding="utf-8") as f:
        page = convert(f.readlines(), name, section, description)
    with open(target, "w", encoding="utf-8") as f:
        f.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
