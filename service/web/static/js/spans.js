// Citation spans -> highlights in the article text.
//
// The API counts offsets in Unicode CODE POINTS (Python's str indexing), but
// JavaScript strings index UTF-16 code units: every emoji or other character
// outside the Basic Multilingual Plane is one code point and TWO units. Slicing
// the article with the API's numbers directly would shift every highlight after
// such a character, so all offsets go through a code point -> UTF-16 map.

/** The article text with its code point -> UTF-16 index map. */
export class ArticleText {
  constructor(text) {
    this.text = text;
    // units[i] = UTF-16 index where code point i starts; units[n] = text.length.
    const units = [];
    let unit = 0;
    for (const ch of text) {
      units.push(unit);
      unit += ch.length; // 2 for astral characters (surrogate pairs), else 1
    }
    units.push(unit);
    this.units = Uint32Array.from(units);
  }

  /** Number of code points (what the API calls the article's length). */
  get length() {
    return this.units.length - 1;
  }

  /** UTF-16 index of code point offset `point` (clamped into the text). */
  unitAt(point) {
    const clamped = Math.max(0, Math.min(this.length, point | 0));
    return this.units[clamped];
  }

  /** text[start:end] with code point offsets, as Python would slice it. */
  slice(start, end) {
    return this.text.slice(this.unitAt(start), this.unitAt(end));
  }
}

/**
 * Render `article` into `container`, wrapping each citation in a <mark>.
 * citations: [{start, end, support}] in code points. Returns the marks in text order.
 * Overlapping citations are merged into one mark (the page shows one highlight).
 * `answer` ({start, end}, code points, optional): the answer's own words, marked
 * again inside the citation that contains them.
 */
export function renderHighlights(container, article, citations, answer = null) {
  const spans = citations
    .map((c) => ({ start: c.start, end: c.end, supports: [c.support] }))
    .filter((s) => s.end > s.start)
    .sort((a, b) => a.start - b.start);
  const merged = [];
  for (const span of spans) {
    const last = merged[merged.length - 1];
    if (last && span.start < last.end) {
      last.end = Math.max(last.end, span.end);
      last.supports.push(...span.supports);
    } else {
      merged.push(span);
    }
  }

  const fragment = document.createDocumentFragment();
  const marks = [];
  let cursor = 0;
  for (const span of merged) {
    if (span.start > cursor) fragment.append(article.slice(cursor, span.start));
    const mark = document.createElement("mark");
    mark.className = "hl";
    if (answer && span.start <= answer.start && answer.end <= span.end && answer.end > answer.start) {
      const words = document.createElement("mark");
      words.className = "hl-answer";
      words.textContent = article.slice(answer.start, answer.end);
      mark.append(article.slice(span.start, answer.start), words, article.slice(answer.end, span.end));
    } else {
      mark.textContent = article.slice(span.start, span.end);
    }
    const support = Math.max(...span.supports.filter((s) => typeof s === "number"));
    if (Number.isFinite(support)) {
      mark.dataset.support = formatSupport(support);
      mark.title = `support ${formatSupport(support)}`;
    }
    mark.dataset.start = span.start;
    mark.dataset.end = span.end;
    fragment.append(mark);
    marks.push(mark);
    cursor = span.end;
  }
  if (cursor < article.length) fragment.append(article.slice(cursor, article.length));
  container.replaceChildren(fragment);
  return marks;
}

/** Support scores are 0..1: show two decimals. */
export function formatSupport(value) {
  return Number(value).toFixed(2);
}

/** Scroll `element` to the middle of its scrolling `box` without moving the page. */
export function scrollWithin(box, element) {
  const boxRect = box.getBoundingClientRect();
  const rect = element.getBoundingClientRect();
  const target = box.scrollTop + (rect.top - boxRect.top) - (box.clientHeight - rect.height) / 2;
  box.scrollTo({ top: Math.max(0, target), behavior: smoothness() });
}

/** "smooth" unless the person asked their system for reduced motion. */
export function smoothness() {
  return window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
}
