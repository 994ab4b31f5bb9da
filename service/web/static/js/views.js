// DOM for summaries and answers. A "claim" is a summary sentence or an answer:
// a focusable element that carries its citations, for the page to highlight.

import { formatSupport } from "./spans.js";

export const NOT_IN_ARTICLE = "The article does not say.";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A claim: role=button so Enter/Space work, inline so sentences flow as prose. */
function claim(text, citations, label, answer = null) {
  const node = element("span", "claim", text);
  node.setAttribute("role", "button");
  node.tabIndex = 0;
  node.setAttribute("aria-pressed", "false");
  node.claim = { citations, label, answer };
  const passages = citations.length === 1 ? "1 cited passage" : `${citations.length} cited passages`;
  node.title = `${label}: ${passages} (Enter shows them in the article)`;
  return node;
}

/** The grounded summary: a paragraph of claims, or a bullet list of them. */
export function renderSummary(container, summary, format) {
  container.replaceChildren();
  if (!summary.sentences.length) {
    container.append(
      element(
        "p",
        "empty",
        "No sentence of the model's summary could be verified against the article. " +
          "Try another length or focus.",
      ),
    );
    return;
  }
  // Each claim is followed by the numbers of the article sentences it cites, which
  // also shows where one sentence ends and the next begins in a paragraph.
  const claims = summary.sentences.map((s, i) => [
    claim(s.text, s.citations, `Summary sentence ${i + 1}`),
    sentenceNumbers(s.citations),
  ]);
  if (format === "bullets") {
    const list = element("ul", "summary-list");
    for (const parts of claims) {
      const item = element("li");
      item.append(...parts);
      list.append(item);
    }
    container.append(list);
  } else {
    const paragraph = element("p", "summary-text");
    claims.forEach((parts, i) => paragraph.append(...(i ? [" ", ...parts] : parts)));
    container.append(paragraph);
  }
  container.append(element("p", "meta", describeRun(summary)));
}

/** "[3, 5]": the cited article sentences, numbered from 1 like the service's prompts. */
function sentenceNumbers(citations) {
  const numbers = [...new Set(citations.map((c) => c.sentence + 1))].sort((a, b) => a - b);
  const node = element("sup", "ref", numbers.length ? `[${numbers.join(", ")}]` : "");
  node.title = "article sentences cited";
  return node;
}

/** One history entry: the question, then the cited answer or a plain "does not say". */
export function renderAnswer(answer) {
  const item = element("li", "qa");
  item.append(element("p", "q", answer.question));
  const reply = element("p", "a");
  if (answer.answerable && answer.answer) {
    const words =
      answer.answer_start === null || answer.answer_start === undefined
        ? null
        : { start: answer.answer_start, end: answer.answer_end };
    const node = claim(answer.answer, answer.citations, `Answer to “${answer.question}”`, words);
    reply.append(node);
    const best = Math.max(...answer.citations.map((c) => c.support));
    if (Number.isFinite(best)) reply.append(" ", element("span", "badge", `support ${formatSupport(best)}`));
  } else {
    reply.classList.add("none");
    reply.textContent = NOT_IN_ARTICLE;
  }
  item.append(reply, element("p", "meta", describeRun(answer)));
  return item;
}

/** Which model wrote it, and what it cost: the fine print under each result. */
function describeRun(result) {
  const parts = [result.model];
  const usage = result.usage || {};
  if (usage.total_tokens) parts.push(`${usage.total_tokens} tokens`);
  if (result.cached) parts.push("from cache");
  if (result.degraded) parts.push("partly grounded (degraded)");
  return parts.filter(Boolean).join(" · ");
}
