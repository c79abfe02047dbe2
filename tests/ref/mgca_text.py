#!/usr/bin/python3
"""Reference for MGCA report preprocessing (tests/unit/test_mgca_text.c).

A port of create_path_2_sent_mapping + get_caption of HKU-MedAI/MGCA
(mgca/datasets/pretrain_dataset.py), with nltk's RegexpTokenizer(r"\\w+").tokenize,
which is re.findall(r"\\w+", text) (gaps=False), written out so that nltk is not needed.

    /usr/bin/python3 tests/ref/mgca_text.py           # rewrite the expectation files
    /usr/bin/python3 tests/ref/mgca_text.py --check   # compare with the committed ones

Outputs (tests/data/tokenizers/expected/):
  mgca_iuxray.tsv  row (1-based data row of tests/data/reports/iuxray-report-label-300.csv),
                   word count, caption; one line per report, dropped ones included
  mgca_cases.tsv   hex of the UTF-8 text, word count, caption; hand-written hard cases
"""
import csv
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
CSV = os.path.join(DATA, "reports", "iuxray-report-label-300.csv")
OUT = os.path.join(DATA, "tokenizers", "expected")

WORD = re.compile(r"\w+")


def mgca_caption(impression, findings):
    """Returns (caption, number of words); MGCA keeps the report iff the count is >= 3."""
    captions = ""
    captions += impression
    captions += " "
    captions += findings
    captions = captions.replace("\n", " ")
    splitter = re.compile(r"[0-9]+\.")
    captions = splitter.split(captions)
    captions = [point.split(".") for point in captions]
    captions = [sent for point in captions for sent in point]
    cnt = 0
    study_sent = []
    for cap in captions:
        if len(cap) == 0:
            continue
        cap = cap.replace("\ufffd\ufffd", " ")
        tokens = WORD.findall(cap.lower())
        if len(tokens) <= 1:
            continue
        included_tokens = []
        for t in tokens:
            t = t.encode("ascii", "ignore").decode("ascii")
            if len(t) > 0:
                included_tokens.append(t)
        if len(included_tokens) > 0:
            study_sent.append(" ".join(included_tokens))
        cnt += len(included_tokens)
    study_sent = [s for s in study_sent if s != ""]
    return " ".join(study_sent), cnt


CASES = [
    "The heart is normal. The lungs are clear.",
    "1. No effusion. 2. Heart size normal. 3.5 cm nodule in the left lung.",
    "No pneumothorax.",
    "ab12.cd 12.34 done here. 7. 8.9. x 10",
    "Café naïve résumé today. Ünïcödé façade here",
    "İstanbul İs big. İİ İİ",
    "\u212aelvin \u212a words here",
    "Straße ß word a. ß ß",
    "x_y under_score words. __ _",
    "\u0661\u0662\u0663 arabic digits here. \u0968\u0969 devanagari",
    "\u216b roman numeral here. \u00bd half",
    "\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3 greek only. \u03a3\u03a3 ok then",
    "a\ufffd\ufffdb c d",
    "",
    "...",
    "non-ascii \u00fc only \u00fc here",
    "tab\tseparated\twords\rand\r\nbreaks",
    "XXXX XXXX. Normal chest x-XXXX.",
    "e\u0301t\u00e9 \u00e9t\u00e9 combining marks",
    "\u80ba\u90e8 CJK \u6b63\u5e38 words",
    "one. two. three.",
    "Two words. Three words here.",
    "a1.b2.c3 d4",
]


def render():
    rows = []
    with open(CSV, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        col = header.index("Reports")
        for i, r in enumerate(reader, 1):
            cap, n = mgca_caption(r[col], "")
            rows.append("%d\t%d\t%s\n" % (i, n, cap))
    cases = []
    for text in CASES:
        cap, n = mgca_caption(text, "")
        cases.append("%s\t%d\t%s\n" % (text.encode("utf-8").hex(), n, cap))
    return {"mgca_iuxray.tsv": "".join(rows), "mgca_cases.tsv": "".join(cases)}


def main():
    check = "--check" in sys.argv[1:]
    bad = 0
    for name, text in render().items():
        path = os.path.join(OUT, name)
        if check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    print("%s: differs from the reference output" % path)
                    bad = 1
        else:
            os.makedirs(OUT, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    return bad


if __name__ == "__main__":
    sys.exit(main())
