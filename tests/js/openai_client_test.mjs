// The official openai client (npm) against adallava serve: a chat completion with an image as a
// data: URI and a budget, the same streamed, and an error the client surfaces as an APIError.
// Usage: node openai_client_test.mjs BINARY MODEL IMAGE
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import OpenAI from "openai";

const [binary, model, image] = process.argv.slice(2);
const server = spawn(binary, ["serve", "-m", model, "--port", "0", "-t", "2", "--api-key", "test-key"],
                     { stdio: ["ignore", "ignore", "pipe"] });
const url = await new Promise((resolve, reject) => {
  let err = "";
  server.stderr.on("data", (d) => {
    err += d;
    const m = err.match(/http:\/\/([\d.]+):(\d+)/);
    if (m && err.includes("ready")) resolve(`http://${m[1]}:${m[2]}`);
  });
  server.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
});

try {
  const client = new OpenAI({ baseURL: url + "/v1", apiKey: "test-key", maxRetries: 0 });
  const uri = "data:image/png;base64," + readFileSync(image).toString("base64");
  const messages = [{ role: "user", content: [
    { type: "text", text: "What colour is the object?" }, { type: "image_url", image_url: { url: uri } }] }];

  const models = await client.models.list();
  assert.equal(models.data.length, 1);

  const r = await client.chat.completions.create({ model: models.data[0].id, messages, max_tokens: 8, budget: 0.75 });
  const text = r.choices[0].message.content;
  assert.ok(text.length > 0, "an answer");
  assert.equal(r.adallava.budget, 0.75);
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);

  const stream = await client.chat.completions.create({ model: models.data[0].id, messages, max_tokens: 8, budget: 0.75, stream: true });
  let streamed = "", last = null;
  for await (const chunk of stream) {
    streamed += chunk.choices[0]?.delta?.content ?? "";
    last = chunk;
  }
  assert.equal(streamed, text, "the stream says what the whole answer said");
  assert.ok(last.adallava.plan.executed_layers.length > 0);

  await assert.rejects(client.chat.completions.create({ model: "x", messages, max_tokens: 100000 }),
                       (e) => e instanceof OpenAI.APIError && e.status === 400 && /max_tokens/.test(e.message));
  const wrong = new OpenAI({ baseURL: url + "/v1", apiKey: "wrong", maxRetries: 0 });
  await assert.rejects(wrong.chat.completions.create({ model: "x", messages }), (e) => e.status === 401);
  console.log(`openai client: ${JSON.stringify(text)}, streamed the same`);
} finally {
  server.kill("SIGTERM");
}
const code = await new Promise((resolve) => server.on("exit", resolve));
assert.equal(code, 0, "serve stops cleanly on SIGTERM");
