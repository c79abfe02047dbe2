#!/usr/bin/env node
// Expected WordPiece ids for tests/unit/test_wordpiece.c, from HuggingFace's own
// implementation: the npm package `tokenizers` (the Rust library behind
// BertTokenizerFast / AutoTokenizer).  Install it OUTSIDE the repository and run:
//
//   mkdir -p /tmp/tokref && (cd /tmp/tokref && npm install tokenizers@0.23.2)
//   /usr/bin/python3 tests/ref/mgca_text.py       # the MGCA captions this script reads
//   NODE_PATH=/tmp/tokref/node_modules node tests/ref/make_tokenizer_expectations.js
//
// Writes, per model (tests/data/tokenizers/<model>/, and "bio-clinicalbert-json" = that
// folder's tokenizer.json alone), into tests/data/tokenizers/expected/:
//   <model>.cases.tsv    max_length (0 = none), hex of the UTF-8 text, ids of
//                        [CLS] pieces [SEP]; hard cases and a few whole reports
//   <model>.reports.tsv  row, mode (raw | mgca), id count, FNV-1a 64 (hex) of the ids
//                        written in decimal joined by single spaces; every report of
//                        tests/data/reports/iuxray-report-label-300.csv at max_length 112
//                        (mgca: the captions of expected/mgca_iuxray.tsv, kept ones only)
//   cli_*_input.txt, cli_*.expected   stdin and stdout of `adaptor tokenize` tests
//   <variant>.cases.tsv  the cases for a vocabulary with another tokenizer_config.json
//                        (VARIANTS below)
'use strict';
const fs = require('fs');
const path = require('path');
const lib = require('./tokref_lib.js');

const DATA = path.join(__dirname, '..', 'data');
const OUT = path.join(DATA, 'tokenizers', 'expected');
const MAX_LENGTH = 112;

const CASES = [
  'Café Naïve résumé',
  'CAFÉ NAÏVE RÉSUMÉ Ünïcödé façade',
  'MiXeD CaSe PNEUMOTHORAX Pneumothorax pneumothorax',
  '肺部正常 no 心脏扩大',
  '日本語のテキスト、カタカナ',
  '한국어 텍스트',
  '!!!...???---,,,;;',
  '(a)[b]{c}<d> e.g., i.e.; x/y\\z @#$%^&*_+=|~`',
  '“quoted” ‘single’ — dash – en … ellipsis',
  '¿Qué? ¡Sí! «guillemets» §4 ¶2',
  'a\u0001b\u007fc\u200bd\u00ade\u0085f',
  'a\u0000b c\u0000',
  'a\ufffdb c\ufffd\ufffd',
  'a'.repeat(100),
  'a'.repeat(101),
  'pneumothorax'.repeat(9),
  'x ' + 'é'.repeat(101) + ' y',
  '',
  '   ',
  'a\tb\t\tc\t',
  'a\rb\r\nc',
  '12.5 cm 3,000 1/2 0.75mm 10x12 2019-01-01 98.6°F',
  '[CLS] inside [SEP] text [PAD][MASK][UNK]',
  '[cls] lower [Cls] [CLS',
  'x[CLS]y[SEP]',
  'İstanbul İS',
  'ß straße STRASSE',
  'ǅ Ǆ ǆ titlecase',
  'ΣΊΣΥΦΟΣ ΟΔΥΣΣΕΥΣ σίσυφος',
  'Рентген грудной клетки',
  'صورة الصدر',
  'नमस्ते दुनिया',
  '😀 🥰 👍🏽 ❤️',
  'e\u0301 a\u0308\u0323 q\u0323\u0307 o\u031b\u0301',
  'a\u0378b \ue000c',
  'a\u2028b\u2029c a\u00a0b a\u3000b a\u2009b a\u000bb\u000cc',
  '\u037e \u0387 \u1fef',
  'ＡＢＣ１２３ Ⅻ ½ ﬁ ﬀ',
  '\u212aelvin Ångström \u212b',
  'x\u{2B820}z x\u{2B920}z x\u{2A6DF}z x\u{2A6E0}z',
  'Hello, World! Isn\'t it?',
  'no acute cardiopulmonary abnormality. XXXX XXXX. The heart is normal in size.',
  'word '.repeat(300),
  // code points whose class in HF's tables differs from current Unicode (see
  // tests/ref/make_wordpiece_unicode_table.js)
  'a\u061Db a\u0890b a\u07FDb a\u0C77b a\u1B7Db x\u{1E08F}y',
];

// Deterministic mixed-script strings: letters, combining marks in any order, special
// casing, punctuation, CJK, controls.
function randomTexts(n) {
  let seed = 12345;
  const rnd = (k) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % k; };
  const marks = [0x301, 0x308, 0x323, 0x31b, 0x327, 0x345, 0x5b0, 0x93c, 0x94d, 0x302, 0x316];
  const specials = 'ÀÉÎÕÜçñßİıǅǄΣςЁёŉǰᾼﬁÅKẞ';
  const out = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    const len = rnd(40);
    for (let j = 0; j < len; j++) {
      const r = rnd(100);
      if (r < 40) s += String.fromCodePoint(32 + rnd(95));
      else if (r < 55) s += String.fromCodePoint(marks[rnd(marks.length)]);
      else if (r < 70) s += [...specials][rnd([...specials].length)];
      else if (r < 80) s += String.fromCodePoint(0x3000 + rnd(0xd000 - 0x3000));
      else s += String.fromCodePoint(0x80 + rnd(0x2f80));
    }
    out.push(s);
  }
  return out;
}
CASES.push(...randomTexts(40));

// Config variants (tests/unit/test_wordpiece.c builds the same folders): a cased
// vocabulary used cased, lower-casing without accent stripping, no CJK padding.
const VARIANTS = {
  'bio-clinicalbert-cased': ['bio-clinicalbert', '{"do_lower_case": false}'],
  'bert-base-uncased-nostrip': ['bert-base-uncased', '{"do_lower_case": true, "strip_accents": false}'],
  'bert-base-uncased-nocjk': ['bert-base-uncased', '{"tokenize_chinese_chars": false}'],
};

function hex(s) {
  return Buffer.from(s, 'utf8').toString('hex');
}

// FNV-1a 64 of the ids written in decimal, joined by single spaces.
function fnv(ids) {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (const b of Buffer.from(ids.join(' '), 'utf8')) {
    h ^= BigInt(b);
    h = (h * prime) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

// RFC 4180 CSV (quoted fields, doubled quotes).
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

async function main() {
  const csv = parseCsv(fs.readFileSync(path.join(DATA, 'reports', 'iuxray-report-label-300.csv'), 'utf8'));
  const col = csv[0].indexOf('Reports');
  const reports = csv.slice(1).map((r) => r[col]);
  const mgca = fs.readFileSync(path.join(OUT, 'mgca_iuxray.tsv'), 'utf8').split('\n')
    .filter((l) => l.length).map((l) => l.split('\t'));

  // `adaptor tokenize` inputs and outputs (tests/cmake/tokenize.cmake): raw lines, and
  // reports whose MGCA captions (from the Python reference) are what gets tokenized.
  const cliRaw = reports.slice(0, 5).concat(CASES.filter((t) => t.length && !/[\n\r\0]/.test(t)
    && t.length < 200).slice(0, 12));
  const cliMgca = mgca.slice(0, 5).map((r) => r[2]);
  fs.writeFileSync(path.join(OUT, 'cli_raw_input.txt'), cliRaw.join('\n') + '\n');
  fs.writeFileSync(path.join(OUT, 'cli_mgca_input.txt'), reports.slice(0, 5).join('\n') + '\n');
  const CLI = {
    'bio-clinicalbert': [['cli_raw_bio.expected', cliRaw, 112]],
    'cxr-bert-specialized': [['cli_raw_cxr_ml10.expected', cliRaw, 10]],
    'bert-base-uncased': [['cli_mgca_bert.expected', cliMgca, 112]],
  };
  const models = {
    'bert-base-uncased': 'bert-base-uncased',
    'bio-clinicalbert': 'bio-clinicalbert',
    'cxr-bert-specialized': 'cxr-bert-specialized',
    'bio-clinicalbert-json': null,
  };
  for (const [name, dir] of Object.entries(models)) {
    const { Tokenizer } = require('tokenizers');
    const tok = dir ? lib.load(path.join(DATA, 'tokenizers', dir))
      : Tokenizer.fromFile(path.join(DATA, 'tokenizers', 'bio-clinicalbert', 'tokenizer.json'));
    let cases = '';
    for (const text of CASES) {
      cases += `0\t${hex(text)}\t${(await lib.encode(tok, text, 0)).join(' ')}\n`;
    }
    for (const [ml, row] of [[2, 0], [3, 0], [10, 1], [16, 2], [512, 3]]) {
      cases += `${ml}\t${hex(reports[row])}\t${(await lib.encode(tok, reports[row], ml)).join(' ')}\n`;
    }
    let rep = '';
    for (let i = 0; i < reports.length; i++) {
      const ids = await lib.encode(tok, reports[i], MAX_LENGTH);
      rep += `${i + 1}\traw\t${ids.length}\t${fnv(ids)}\n`;
    }
    for (const [row, count, caption] of mgca) {
      if (Number(count) < 3) continue;
      const ids = await lib.encode(tok, caption, MAX_LENGTH);
      rep += `${row}\tmgca\t${ids.length}\t${fnv(ids)}\n`;
    }
    if (name === 'bert-base-uncased') {
      // "No pneumothorax." has 2 words: MGCA drops it (expected/mgca_cases.tsv).
      const a = (await lib.encode(tok, mgca[0][2], MAX_LENGTH)).join(' ');
      const b = (await lib.encode(tok, mgca[1][2], MAX_LENGTH)).join(' ');
      fs.writeFileSync(path.join(OUT, 'cli_mgca_dropped_input.txt'),
        [reports[0], 'No pneumothorax.', reports[1]].join('\n') + '\n');
      fs.writeFileSync(path.join(OUT, 'cli_mgca_dropped.expected'), `${a}\n\n${b}\n`);
    }
    if (CLI[name] && dir) {
      for (const [file, input, ml] of CLI[name]) {
        let out = '';
        for (const line of input) out += (await lib.encode(tok, line, ml)).join(' ') + '\n';
        fs.writeFileSync(path.join(OUT, file), out);
      }
    }
    fs.writeFileSync(path.join(OUT, `${name}.cases.tsv`), cases);
    fs.writeFileSync(path.join(OUT, `${name}.reports.tsv`), rep);
  }
  const os = require('os');
  for (const [name, [base, config]] of Object.entries(VARIANTS)) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokvar-'));
    fs.copyFileSync(path.join(DATA, 'tokenizers', base, 'vocab.txt'), path.join(dir, 'vocab.txt'));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), config);
    const tok = lib.load(dir);
    let cases = '';
    for (const text of CASES) cases += `0\t${hex(text)}\t${(await lib.encode(tok, text, 0)).join(' ')}\n`;
    fs.writeFileSync(path.join(OUT, `${name}.cases.tsv`), cases);
    fs.rmSync(dir, { recursive: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
