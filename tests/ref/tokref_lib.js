// HuggingFace reference tokenizers for the expectation generator: the npm package
// `tokenizers` (HF's Rust library) does the tokenization; this file only assembles the
// tokenizer the way transformers' BertTokenizerFast does for a model folder.
'use strict';
const fs = require('fs');
const path = require('path');

function readJson(p) {
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

// transformers' load_vocab: universal newlines, rstrip("\n"), id = line number.
function readVocab(p) {
  let text = fs.readFileSync(p, 'utf8').replace(/\r\n?/g, '\n');
  if (text.endsWith('\n')) text = text.slice(0, -1);
  const vocab = {};
  text.split('\n').forEach((tok, i) => { vocab[tok] = i; });
  return vocab;
}

function tokenName(v, dflt) {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'string') return v;
  return v.content;
}

// What transformers.convert_slow_tokenizer.BertConverter + PreTrainedTokenizerFast build
// from vocab.txt + tokenizer_config.json: BertNormalizer, BertPreTokenizer, WordPiece,
// special tokens as non-normalized added tokens, [CLS] $A [SEP].
function fromVocabDir(dir) {
  const cfgPath = path.join(dir, 'tokenizer_config.json');
  const cfg = fs.existsSync(cfgPath) ? readJson(cfgPath) : {};
  const vocab = readVocab(path.join(dir, 'vocab.txt'));
  const names = {
    unk: tokenName(cfg.unk_token, '[UNK]'), sep: tokenName(cfg.sep_token, '[SEP]'),
    pad: tokenName(cfg.pad_token, '[PAD]'), cls: tokenName(cfg.cls_token, '[CLS]'),
    mask: tokenName(cfg.mask_token, '[MASK]'),
  };
  const special = [names.unk, names.sep, names.pad, names.cls, names.mask];
  const added = special.filter((t) => t in vocab).map((t) => ({
    id: vocab[t], content: t, single_word: false, lstrip: false, rstrip: false,
    normalized: false, special: true,
  }));
  const lower = cfg.do_lower_case === undefined ? true : cfg.do_lower_case;
  const json = {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: {
      type: 'BertNormalizer', clean_text: true,
      handle_chinese_chars: cfg.tokenize_chinese_chars === undefined ? true : cfg.tokenize_chinese_chars,
      strip_accents: cfg.strip_accents === undefined ? null : cfg.strip_accents,
      lowercase: lower,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'BertProcessing', sep: [names.sep, vocab[names.sep]], cls: [names.cls, vocab[names.cls]],
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece', unk_token: names.unk, continuing_subword_prefix: '##',
      max_input_chars_per_word: 100, vocab: vocab,
    },
  };
  const { Tokenizer } = require('tokenizers');
  return Tokenizer.fromString(JSON.stringify(json));
}

function load(dir) {
  const { Tokenizer } = require('tokenizers');
  if (fs.existsSync(path.join(dir, 'vocab.txt'))) return fromVocabDir(dir);
  return Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
}

// [CLS] pieces [SEP], truncated to maxLength (0: no truncation), as ids.
async function encode(tok, text, maxLength) {
  if (maxLength > 0) tok.setTruncation(maxLength);
  else tok.disableTruncation();
  const enc = await tok.encode(text);
  return enc.getIds();
}

module.exports = { load, encode };
