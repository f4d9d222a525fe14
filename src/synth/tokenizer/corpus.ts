// Training text for the tiny presets' tokenizer: a few KB of English prose, code, numbers,
// Chinese and emoji, so the learned merges cover words, indentation, punctuation runs and
// multi-byte UTF-8. Changing this text changes every tiny model's vocabulary (and file bytes).
export const TINY_CORPUS = `Petrels are seabirds that spend most of their lives over the open ocean. They come to land only to breed, usually on remote islands and cliffs, and they find their way back to the same burrow year after year. The storm petrel is one of the smallest seabirds in the world; it flutters low over the waves and seems to walk on the water.
Sailors once believed that the birds foretold bad weather. When the wind rises and the sky turns grey, the petrels gather behind the ships, picking small fish and plankton from the churned water. The name is often said to come from Saint Peter, who walked on the sea.
A good model of the weather needs three things: data, a sound theory, and a fast computer. The data come from thousands of stations, balloons, ships and satellites. The theory is the physics of fluids. The computer turns both into a forecast for tomorrow, the day after, and the rest of the week.
"What time is it?" she asked. "It's nearly half past nine," he said, "and we're going to be late if we don't leave now." They'd planned the trip for weeks, but nobody had checked the tide tables. I'll tell you what happened next: the road was closed, the ferry was full, and the café by the harbour had run out of coffee.
Numbers matter too: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 64, 128, 256, 1024, 4096, 65536. The year 2026 has 365 days; pi is about 3.14159 and e is about 2.71828. A ratio of 3:4 is 75%, and $19.99 plus tax is roughly $21.59.

function add(a: number, b: number): number {
  return a + b;
}

export class Counter {
  private count = 0;
  increment(): number {
    this.count += 1;
    return this.count;
  }
}

const items = [1, 2, 3].map((x) => x * 2).filter((x) => x > 2);
console.log(\`items: \${items.join(', ')}\`);

def fibonacci(n):
    """Return the first n Fibonacci numbers."""
    a, b = 0, 1
    result = []
    for _ in range(n):
        result.append(a)
        a, b = b, a + b
    return result

if __name__ == "__main__":
    print(fibonacci(10))

#include <stdio.h>
int main(void) {
    for (int i = 0; i < 10; i++) {
        printf("%d\\n", i);
    }
    return 0;
}

{"name": "petrel", "version": "0.1.0", "layers": 24, "heads": [8, 2], "tied": true}
SELECT name, count(*) FROM birds WHERE ocean = 'Atlantic' GROUP BY name ORDER BY 2 DESC;

海燕是一种海鸟，一生中大部分时间都在海上度过。它们只在繁殖季节回到陆地，通常选择偏远的岛屿和悬崖。
今天天气很好，我们去海边散步吧。你好，世界！我想学习中文，也想学习编程。
模型的每一层都有注意力机制或者线性注意力。数据、理论和计算机，三者缺一不可。

Emoji and symbols: 🐦 🌊 🌧️ ⛵ 🚀 ✅ 😀 😂 👍 ❤️ 🦙 → ← ≈ ≠ ≤ ≥ ± × ÷ ° € £ ¥ © ™
Accents: café, naïve, façade, jalapeño, Zürich, São Paulo, Ångström, crème brûlée.
Other scripts: Привет, мир! Γειά σου κόσμε. こんにちは世界。안녕하세요. مرحبا بالعالم. नमस्ते दुनिया.

The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!
She sells sea shells by the sea shore; the shells she sells are surely sea shells.
Questions? Answers! Lists: first, second, third... and so on -- until the end.
<|im_start|>user
What is a petrel?<|im_end|>
<|im_start|>assistant
<think>
The user asks about a bird.
</think>

A petrel is a seabird of the open ocean.<|im_end|>
`;
