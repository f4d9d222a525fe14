// A deterministic tokenizer test corpus (no network, no bundled data): lines mixing many scripts
// (with and without combining marks, NFC and decomposed), code, numbers, emoji (ZWJ sequences,
// skin tones, flags, keycaps), whitespace runs and the Qwen3.5 added tokens, drawn from fixed
// pools with a seeded PRNG. The same seed always gives the same lines.

const POOLS: Record<string, readonly string[]> = {
  english: [
    'The quick brown fox jumps over the lazy dog.',
    "I'm sure you'll like it; they've said it's fine, and we'd agree.",
    "DON'T SHOUT! IT'S LATE, WE'LL TALK TOMORROW.",
    'Hello, world!',
    'Storm petrels flutter low over the waves, picking plankton from the surface.',
    'e.g. i.e. etc. Mr. Smith & Co. (est. 1887)',
    'A sentence... with an ellipsis — and an em dash – and an en dash.',
    '"Quoted" \u2018single\u2019 \u201cdouble\u201d «guillemets» „low“',
    'state-of-the-art, well-known, x-ray, re-enter',
    'CamelCaseIdentifier snake_case_name kebab-case-name SCREAMING_CASE',
  ],
  latin: [
    'café naïve façade jalapeño Zürich São Paulo Ångström crème brûlée',
    'Ça va? Où est la bibliothèque? À bientôt!',
    'Größe, Straße, Übermäßig, Fußgängerübergänge',
    'Tiếng Việt có nhiều dấu: ả, ẫ, ặ, ở, ữ, ỵ.',
    'Łódź, Kraków, Gdańsk, żółć, źdźbło',
    'Dvořák, Škoda, Čeština, příliš žluťoučký kůň',
    'Ærøskøbing, smørrebrød, Þórsmörk, Ísland',
    'Türkçe: ğüşıöç İstanbul ılık',
    'e\u0301 a\u0308 n\u0303 o\u0302 u\u0300 c\u0327',
    'Cafe\u0301 nai\u0308ve Zu\u0308rich A\u030angstro\u0308m',
    'a\u0301\u0323 o\u0323\u0302 x\u0308\u0301 q\u0307\u0323',
    'Z\u0351\u036b\u0343a\u0308\u0352l\u0344\u0342g\u0310\u0313o\u0302\u0311',
  ],
  cyrillic: ['Привет, мир! Как дела?', 'Съешь же ещё этих мягких французских булок, да выпей чаю.', 'Україна, Київ, ґанок, їжак', 'Й и\u0306 ё е\u0308'],
  greek: ['Γειά σου κόσμε!', 'Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.', 'ΑΛΦΑ βήτα γάμμα δέλτα', 'α\u0301 ε\u0301 ω\u0342'],
  arabic: ['مرحبا بالعالم', 'اللُّغَةُ العَرَبِيَّةُ جَمِيلَةٌ', 'في عام ٢٠٢٦ م', 'السلام عليكم ورحمة الله'],
  hebrew: ['שלום עולם', 'בְּרֵאשִׁית בָּרָא אֱלֹהִים', 'עברית: אבגדהוזחטיכלמנסעפצקרשת'],
  devanagari: ['नमस्ते दुनिया', 'हिन्दी भाषा बहुत सुंदर है।', 'संस्कृतम् क्षत्रिय ज्ञान', 'मराठी: महाराष्ट्र'],
  thai: ['สวัสดีชาวโลก', 'ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ', 'กรุงเทพมหานคร อมรรัตนโกสินทร์'],
  cjk: [
    '海燕是一种海鸟，一生中大部分时间都在海上度过。',
    '今天天气很好，我们去海边散步吧。',
    '你好，世界！我想学习中文，也想学习编程。',
    '模型的每一层都有注意力机制或者线性注意力。',
    '繁體中文：臺灣、國語、電腦',
    'こんにちは世界。カタカナとひらがなと漢字。',
    '東京都は日本の首都です。ｶﾀｶﾅ半角',
    '𠮷野家 𩸽 𡈽',
  ],
  hangul: ['안녕하세요, 세계!', '한국어는 아름답습니다.', '\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af', '대한민국 서울특별시'],
  other: ['Հայերեն', 'ქართული ენა', 'አማርኛ', 'தமிழ் மொழி', 'ಕನ್ನಡ', 'ᚠᚢᚦᚨᚱᚲ', 'ꦧꦱꦗꦮ', 'Ελληνικά + English + Русский'],
  code: [
    'function add(a: number, b: number): number {\n  return a + b;\n}',
    'const items = [1, 2, 3].map((x) => x * 2).filter((x) => x > 2);',
    'def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        yield a\n        a, b = b, a + b',
    '#include <stdio.h>\nint main(void) {\n\tprintf("%d\\n", 42);\n\treturn 0;\n}',
    'SELECT name, count(*) FROM birds WHERE ocean = \'Atlantic\' GROUP BY name;',
    '{"name": "petrel", "version": "0.1.0", "tied": true, "heads": [8, 2]}',
    'fn main() -> Result<(), Box<dyn Error>> { let v: Vec<u8> = vec![]; Ok(()) }',
    'if [[ -z "$HOME" ]]; then echo "no home" >&2; exit 1; fi',
    '<div class="box"><a href="https://example.com/?q=1&x=2">link</a></div>',
    'x += y ** 2 // 3 != 4 && z <= 5 || w >= 6 ?? null',
    'git commit -m "fix: handle \\r\\n line endings" && npm run build',
    '    if (ptr != nullptr) { delete[] ptr; ptr = nullptr; }',
    '$$ \\int_0^\\infty e^{-x^2} dx = \\frac{\\sqrt{\\pi}}{2} $$',
    'matrix[i][j] = (a[i] * b[j]) % MOD; // overflow?',
  ],
  numbers: [
    '0 1 2 3 4 5 6 7 8 9 10 100 1000 65536',
    '3.14159265358979 2.718281828 -0.0001 1e-9 6.022e23',
    '1,234,567.89 $19.99 €20 £5 ¥1000 ₹500 ₿0.5',
    '2026-05-17T12:34:56Z 12:00 PM +1 (555) 123-4567',
    '½ ¼ ¾ ² ³ ¹ ⁴ ₂ ₃ Ⅻ ⅳ ① ⑳',
    '١٢٣٤٥ ०१२३४ ๑๒๓ １２３４ 〇一二三',
    '0xDEADBEEF 0b1010 0o777 1_000_000 42n',
    '99.9% 3:4 1/2 10^6 4×4 8÷2',
  ],
  emoji: [
    '😀 😂 🥲 😍 🤔 🙃 🤯 🥶 👻 💀',
    '👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿',
    '👨\u200d👩\u200d👧\u200d👦 👩\u200d💻 🧑\u200d🚀 👨🏽\u200d🍳',
    '🏳️\u200d🌈 🏴\u200d☠️ 🇯🇵 🇺🇸 🇩🇪 🇧🇷',
    '❤️ ❤ ☺️ ✌🏾 1️⃣ #️⃣ *️⃣',
    '🐦🌊🌧️⛵🚀✅ 🦙🦜🐧',
    '🏴\udb40\udc67\udb40\udc62\udb40\udc73\udb40\udc63\udb40\udc74\udb40\udc7f',
    '→ ← ↑ ↓ ≈ ≠ ≤ ≥ ± × ÷ ° © ™ ∑ ∏ ∫ √ ∞ ♠ ♥ ★ ☆',
  ],
  whitespace: [
    '   leading spaces',
    'trailing spaces   ',
    'tabs\tbetween\t\twords',
    'line one\nline two\n\nline four',
    'windows\r\nline\r\nendings\r\n',
    'many     internal      spaces',
    '\n\n\n',
    '  \t  \n  \t ',
    'nbsp\u00a0here and\u3000ideographic space',
    'thin\u2009space, en\u2002space, zero\u200bwidth, bom\ufefftoo',
    'next\u0085line and line\u2028separator',
    'x\u000bvertical\u000cform feed',
    '\t\t\tindented',
    ' ',
  ],
  special: [
    '<|im_start|>user\nWhat is a petrel?<|im_end|>\n<|im_start|>assistant\n',
    '<think>\nLet me think.\n</think>\n\nA seabird.',
    '<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>',
    '<tool_response>\nrain\n</tool_response>',
    '<|endoftext|><|im_end|><|im_start|>',
    '<|im_sta <think <|im_end| </think',
    '<<think>> <|<|im_end|>|> <think></think>',
    'text<|im_end|>text<think>text</think>text',
    '<|vision_start|><|image_pad|><|vision_end|>',
    '<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>',
  ],
};

const SEPARATORS = [' ', ' ', ' ', '', '\n', '  ', '\t', '\n\n', ', ', '. ', ' - ', '\r\n', '   '];

/** mulberry32: tiny, fast, good enough for picking corpus fragments. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` corpus lines. The first lines are every pool entry on its own (so each appears at least
 * once); the rest join 1-5 random fragments, sometimes cut at a random character.
 */
export function corpusLines(count = 2400, seed = 20260517): string[] {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const pools = Object.values(POOLS);
  const lines: string[] = pools.flat();
  while (lines.length < count) {
    const parts = 1 + Math.floor(rand() * 5);
    let line = '';
    for (let i = 0; i < parts; i++) {
      let frag = pick(pick(pools));
      // Cut some fragments mid-word (at a code point boundary) to vary the pieces BPE sees.
      if (rand() < 0.25) {
        const cps = [...frag];
        frag = cps.slice(Math.floor(rand() * cps.length)).join('');
      }
      line += (i > 0 ? pick(SEPARATORS) : '') + frag;
    }
    lines.push(line);
  }
  return lines.slice(0, count);
}

/** At least `bytes` bytes of corpus text (lines joined by newlines), for speed tests. */
export function corpusText(bytes: number, seed = 7): string {
  const parts: string[] = [];
  let size = 0;
  for (let round = 0; size < bytes; round++) {
    for (const line of corpusLines(2000, seed + round)) {
      parts.push(line);
      size += Buffer.byteLength(line, 'utf8') + 1;
      if (size >= bytes) break;
    }
  }
  return parts.join('\n');
}
