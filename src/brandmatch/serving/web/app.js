// brandmatch web app: plain JS, no framework, no network beyond this server's /api.
// Pages (hash routes): #/ brand search, #/influencers, #/brand/ID (recommendations + filters),
// #/influencer/ID[?brand=B] (account page), #/compare[/A/B], #/new (new brand), #/shortlist.
"use strict";

const VIEW_ORDER = ["c", "au", "att", "cat", "prof", "hub", "total"];
const VIEW_SHORT = { c: "content", au: "audience", att: "attributes", cat: "category", prof: "partner profile", hub: "hubness", total: "total" };
const PANELS = [
  ["content_visual", "Visual concepts of its posts"],
  ["content_text", "Topics of its posts"],
  ["audience_visual", "Visual concepts of its audience"],
  ["audience_text", "Topics of its audience"],
];
const state = {
  meta: null,
  token: sessionStorage.getItem("bm-token") || "",
  compare: loadList("bm-compare"),     // [{id, handle}], at most 2
  shortlist: loadList("bm-shortlist"), // [{brand, influencer, handle, ...}]
  lastResults: null,                   // {brand, recommendations} of the page on screen
};

function loadList(key) {
  try { const v = JSON.parse(localStorage.getItem(key) || "[]"); return Array.isArray(v) ? v : []; }
  catch (e) { return []; }
}
function saveLists() {
  localStorage.setItem("bm-compare", JSON.stringify(state.compare));
  localStorage.setItem("bm-shortlist", JSON.stringify(state.shortlist));
  document.getElementById("compare-count").textContent = String(state.compare.length);
  document.getElementById("shortlist-count").textContent = String(state.shortlist.length);
}

// ---------------------------------------------------------------- DOM helpers (no innerHTML with data)

function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "style") node.setAttribute("style", v);
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
const view = () => document.getElementById("view");
function show(...nodes) { view().replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false)); }
function notice(message) {
  const n = document.getElementById("notice");
  if (!message) { n.hidden = true; n.textContent = ""; return; }
  n.textContent = message; n.hidden = false;
}
const fmtInt = (v) => (v === null || v === undefined ? "unknown" : Number(v).toLocaleString("en-US"));
const fmtPct = (v) => (v === null || v === undefined ? "unknown" : (100 * v).toFixed(2) + "%");
const fmtNum = (v, d = 3) => (v === null || v === undefined ? "n/a" : Number(v).toFixed(d));
const partLabel = (p) => (state.meta && state.meta.part_labels && state.meta.part_labels[p]) || VIEW_SHORT[p] || p;
const partClass = (p) => "v-" + (VIEW_SHORT[p] && p !== "total" && p !== "prof" && p !== "hub" ? p : "other");
const accLink = (id, handle, brand) =>
  h("a", { href: "#/influencer/" + encodeURIComponent(id) + (brand ? "?brand=" + encodeURIComponent(brand) : ""),
           class: "acc-link", "data-id": id }, handle ? "@" + handle : id);

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  if (state.token) headers.Authorization = "Bearer " + state.token;
  let response;
  try { response = await fetch("/api" + path, Object.assign({}, options, { headers })); }
  catch (e) { throw new ApiError(0, "the server cannot be reached: " + e.message); }
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) document.getElementById("token-form").hidden = false;
  if (!response.ok) throw new ApiError(response.status, (body && body.error) || "HTTP " + response.status);
  return body;
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === "" || v === false) continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? "?" + s : "";
}

// ---------------------------------------------------------------- bars (plain CSS)

function contributionBar(parts, scale) {
  const bar = h("div", { class: "contrib", role: "img" });
  const titles = [];
  for (const p of VIEW_ORDER.concat(Object.keys(parts).filter((p) => !VIEW_ORDER.includes(p)))) {
    if (!(p in parts) || parts[p] === null) continue;
    const v = parts[p];
    titles.push(partLabel(p) + ": " + fmtNum(v));
    const width = scale > 0 ? Math.max(0, (100 * Math.abs(v)) / scale) : 0;
    bar.append(h("span", { class: partClass(p) + (v < 0 ? " neg" : ""), "data-part": p,
                           style: `width:${width.toFixed(2)}%;${v < 0 ? "opacity:.35" : ""}`, title: partLabel(p) + ": " + fmtNum(v) }));
  }
  bar.setAttribute("aria-label", titles.join(", "));
  bar.title = titles.join("\n");
  return bar;
}

function legend(parts) {
  return h("div", { class: "legend" }, parts.map((p) => h("span", {}, h("i", { class: partClass(p) }), partLabel(p))));
}

function barList(entries, opts = {}) {
  // entries: [{label, weight}] (or [[label, value]]): horizontal bars scaled to the largest |value|
  const rows = entries.map((e) => (Array.isArray(e) ? { label: e[0], weight: e[1] } : e));
  if (!rows.length) return h("div", { class: "empty small" }, opts.empty || "nothing to show");
  const max = Math.max(...rows.map((r) => Math.abs(r.weight || 0)), 1e-12);
  return h("div", { class: "bars" }, rows.map((r) => [
    h("span", { class: "lbl", title: r.label }, r.label),
    h("span", { class: "bar" + (r.weight < 0 ? " neg" : "") },
      h("span", { class: opts.cls ? opts.cls(r) : "", style: `width:${(100 * Math.abs(r.weight || 0) / max).toFixed(1)}%` })),
    h("span", { class: "val" }, fmtNum(r.weight, 2)),
  ]));
}

const conceptClass = (r) => (String(r.label).startsWith("scene") ? "scene" : "");

function partBars(views, empty) {
  // one bar per score part (content, audience, attributes, ...), in the part's colour
  const rows = Object.entries(views || {}).sort((a, b) => VIEW_ORDER.indexOf(a[0]) - VIEW_ORDER.indexOf(b[0]))
    .map(([p, v]) => ({ label: VIEW_SHORT[p] || p, weight: v, part: p }));
  return barList(rows, { empty: empty || "no per-view split", cls: (r) => partClass(r.part) });
}

// ---------------------------------------------------------------- pages

async function searchPage(kind, q) {
  const isBrand = kind === "brands";
  const input = h("input", { type: "search", id: isBrand ? "brand-search" : "influencer-search", value: q || "",
                             placeholder: isBrand ? "Search brands by id or handle" : "Search influencers by id or handle",
                             autocomplete: "off" });
  const list = h("ul", { class: "results", id: "search-results" });
  let seq = 0;
  const run = async () => {
    const mine = ++seq;
    try {
      const data = await api(`/${kind}` + qs({ q: input.value.trim(), limit: 60 }));
      if (mine !== seq) return; // a newer search is under way: drop this stale answer
      list.replaceChildren(...data.results.map((a) => h("li", {},
        h("a", { href: (isBrand ? "#/brand/" : "#/influencer/") + encodeURIComponent(a.id), "data-id": a.id },
          h("div", { class: "handle" }, a.handle ? "@" + a.handle : a.id),
          h("div", { class: "muted small" }, [a.id, a.category || (a.categories || []).join(", ") || null,
            a.followers !== null && a.followers !== undefined ? fmtInt(a.followers) + " followers" : null]
            .filter(Boolean).join(" · "))))));
      if (!data.results.length) list.replaceChildren(h("li", { class: "empty" }, `No ${isBrand ? "brand" : "influencer"} matches "${input.value}".`));
      notice("");
    } catch (e) { notice(e.message); }
  };
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { history.replaceState(null, "", `#/${isBrand ? "" : "influencers"}` + qs({ q: input.value.trim() })); run(); }, 200);
  });
  show(h("h1", {}, isBrand ? "Find micro-influencers for a brand" : "Influencers"),
       h("div", { class: "card" }, input, h("p", { class: "muted small" },
         isBrand ? "Pick a brand to see its ranked micro-influencers, with filters and per-view explanations. A brand that is not in the data? Use "
                 : "Open an account page, or add accounts to the comparison.", isBrand ? h("a", { href: "#/new" }, "New brand") : null, isBrand ? "." : null)),
       list);
  await run();
  input.focus();
}

function accountHeader(info, extra) {
  const stats = [];
  if (info.role === "influencer") {
    stats.push(h("div", { class: "stat" }, h("b", {}, fmtInt(info.followers)), h("span", {}, "followers")));
    stats.push(h("div", { class: "stat" }, h("b", {}, fmtPct(info.engagement_rate)), h("span", {}, "engagement rate")));
    stats.push(h("div", { class: "stat" }, h("b", {}, (info.categories || []).join(", ") || "unknown"), h("span", {}, "categories")));
  } else {
    stats.push(h("div", { class: "stat" }, h("b", {}, info.category || "unknown"), h("span", {}, "category")));
  }
  stats.push(h("div", { class: "stat" }, h("b", {}, String((info.partners || []).length)), h("span", {}, "past cooperations")));
  return [
    h("div", { class: "row" }, h("h1", { class: "grow" }, info.handle ? "@" + info.handle : info.id,
      h("span", { class: "muted small" }, "  " + info.id + " · " + (info.role || "account"))), extra || null),
    h("div", { class: "stats" }, stats),
    info.bio ? h("p", { class: "bio" }, info.bio) : h("p", { class: "muted small" }, "No bio in the data."),
    (info.attributes || []).length ? h("div", { class: "chips", "aria-label": "attributes" },
      info.attributes.map((a) => h("span", { class: "chip" }, a))) : null,
  ];
}

function captionsBlock(info) {
  const caps = info.captions || [];
  return h("div", {}, h("h3", {}, "Representative captions"),
    caps.length ? h("ol", { class: "captions" }, caps.map((c) => h("li", {}, c)))
                : h("div", { class: "empty small" }, "No posts in the data."));
}

function panelsBlock(info) {
  const why = (name) => (info.unavailable || []).filter((u) => u.startsWith(name + ":")).map((u) => u.slice(name.length + 1).trim()).join("; ");
  return h("div", { class: "grid4" }, PANELS.map(([name, title]) => h("div", { class: "panel", "data-view": name },
    h("h3", {}, title), barList((info.top || {})[name] || [], {
      empty: why(name) || "not available for this account",
      cls: conceptClass,
    }))));
}

function compareButton(info, brand) {
  const inCompare = state.compare.some((c) => c.id === info.id);
  return h("button", { class: "ghost", id: "compare-add", onclick: (ev) => {
    if (!state.compare.some((c) => c.id === info.id)) {
      state.compare = state.compare.concat([{ id: info.id, handle: info.handle }]).slice(-2);
      if (brand) state.compareBrand = brand;
      saveLists();
    }
    ev.target.textContent = "In comparison (" + state.compare.length + "/2)";
    if (state.compare.length === 2) location.hash = "#/compare";
  } }, inCompare ? "In comparison" : "Add to comparison");
}

async function brandPage(id, params) {
  show(h("p", { class: "loading" }, "Loading…"));
  const filters = {
    k: params.get("k") || "20",
    min_followers: params.get("min_followers") || "",
    max_followers: params.get("max_followers") || "",
    category: params.get("category") || "",
    min_engagement: params.get("min_engagement") || "",
    include_partners: params.get("include_partners") === "true",
  };
  let data;
  const alive = navToken();
  try { data = await api(`/brands/${encodeURIComponent(id)}/recommendations` + qs(filters)); }
  catch (e) {
    if (!alive()) return;
    show(h("h1", {}, "Brand " + id), h("div", { class: "card" }, h("p", { class: "error" }, e.message),
         h("a", { href: "#/" }, "Back to brand search")));
    notice(e.message);
    return;
  }
  if (!alive()) return;
  notice("");
  const info = data.brand;
  const cats = (state.meta && state.meta.categories) || [];
  const form = h("form", { class: "filters card", id: "filters" },
    h("label", {}, "Results", h("input", { type: "number", name: "k", min: 1, max: 500, value: filters.k })),
    h("label", {}, "Min followers", h("input", { type: "number", name: "min_followers", min: 0, step: 1000,
      placeholder: String(data.filters.min_followers ?? ""), value: filters.min_followers })),
    h("label", {}, "Max followers", h("input", { type: "number", name: "max_followers", min: 0, step: 1000,
      placeholder: String(data.filters.max_followers ?? ""), value: filters.max_followers })),
    h("label", {}, "Category", h("select", { name: "category" }, h("option", { value: "" }, "any"),
      cats.map((c) => h("option", { value: c, selected: c === filters.category }, c)))),
    h("label", {}, "Min engagement rate", h("input", { type: "number", name: "min_engagement", min: 0, step: 0.001,
      placeholder: "e.g. 0.02", value: filters.min_engagement })),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "include_partners", checked: filters.include_partners }),
      "include past partners"),
    h("button", { type: "submit", id: "apply-filters" }, "Apply filters"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const next = {};
    for (const key of ["k", "min_followers", "max_followers", "category", "min_engagement"]) next[key] = (fd.get(key) || "").trim();
    next.include_partners = fd.get("include_partners") ? "true" : "";
    location.hash = "#/brand/" + encodeURIComponent(id) + qs(next);
  });
  show(h("div", { class: "card" }, accountHeader(info),
         h("details", {}, h("summary", { class: "small" }, "The brand's own content and audience"), captionsBlock(info), panelsBlock(info))),
       form,
       resultsBlock(data, info.id));
}

function resultsBlock(data, brandId) {
  const recs = data.recommendations;
  state.lastResults = data;
  const parts = [...new Set(recs.flatMap((r) => Object.keys(r.views || {})))].sort((a, b) => VIEW_ORDER.indexOf(a) - VIEW_ORDER.indexOf(b));
  const scale = Math.max(1e-12, ...recs.map((r) => Object.values(r.views || {}).reduce((s, v) => s + Math.abs(v || 0), 0)));
  const selected = new Set();
  const compareSel = h("button", { class: "ghost", id: "compare-selected", disabled: true, onclick: () => {
    state.compare = [...selected].slice(0, 2).map((id) => { const r = recs.find((x) => x.influencer === id); return { id, handle: r.handle }; });
    state.compareBrand = brandId && !String(brandId).startsWith("new:") ? brandId : null;
    saveLists();
    location.hash = "#/compare";
  } }, "Compare selected (0/2)");
  const rows = recs.map((r) => {
    const check = h("input", { type: "checkbox", class: "pick", "aria-label": "select " + (r.handle || r.influencer), onchange: (ev) => {
      if (ev.target.checked) selected.add(r.influencer); else selected.delete(r.influencer);
      compareSel.disabled = selected.size !== 2;
      compareSel.textContent = `Compare selected (${selected.size}/2)`;
    } });
    const listed = () => state.shortlist.some((s) => s.influencer === r.influencer && s.brand === (brandId || data.brand.id));
    const star = h("button", { class: "ghost shortlist-add", title: "add to / remove from the shortlist", onclick: (ev) => {
      const b = brandId || data.brand.id;
      if (listed()) state.shortlist = state.shortlist.filter((s) => !(s.influencer === r.influencer && s.brand === b));
      else state.shortlist = state.shortlist.concat([shortlistEntry(b, r)]);
      saveLists();
      ev.target.textContent = listed() ? "★ listed" : "☆ shortlist";
    } }, listed() ? "★ listed" : "☆ shortlist");
    return h("tr", { "data-id": r.influencer },
      h("td", {}, check), h("td", { class: "num" }, String(r.rank)),
      h("td", {}, accLink(r.influencer, r.handle, brandId && !String(brandId).startsWith("new:") ? brandId : null)),
      h("td", { class: "small" }, (r.categories || []).join(", ") || h("span", { class: "muted" }, "unknown")),
      h("td", { class: "num" }, fmtInt(r.followers)), h("td", { class: "num" }, fmtPct(r.engagement_rate)),
      h("td", { class: "num" }, fmtNum(r.score)), h("td", {}, contributionBar(r.views || {}, scale)), h("td", {}, star));
  });
  return h("div", { class: "card", id: "results" },
    h("div", { class: "row" }, h("h2", { class: "grow" }, `${recs.length} recommended micro-influencers`),
      compareSel,
      h("button", { class: "ghost", id: "shortlist-all", onclick: () => {
        const b = brandId || data.brand.id;
        for (const r of recs) if (!state.shortlist.some((s) => s.influencer === r.influencer && s.brand === b)) state.shortlist.push(shortlistEntry(b, r));
        saveLists();
      } }, "Shortlist all"),
      h("button", { class: "ghost", id: "export-results", onclick: () => downloadCsv(recs.map((r) => shortlistEntry(brandId || data.brand.id, r)),
        `brandmatch-${brandId || "new-brand"}.csv`) }, "Export CSV")),
    parts.length ? legend(parts) : null,
    recs.length ? h("table", { class: "recs", id: "recs" },
      h("thead", {}, h("tr", {}, ["", "#", "influencer", "categories", "followers", "engagement", "score", "contribution per view", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows))
      : h("p", { class: "empty" }, "No influencer passes these filters. Loosen the follower range or the category."));
}

function shortlistEntry(brand, r) {
  return { brand, rank: r.rank, influencer: r.influencer, handle: r.handle, score: r.score, followers: r.followers,
           engagement_rate: r.engagement_rate, categories: (r.categories || []).join(" "), views: r.views || {} };
}

async function accountPage(id, params) {
  show(h("p", { class: "loading" }, "Loading…"));
  const brand = params.get("brand");
  let info;
  const alive = navToken();
  try { info = await api(`/influencers/${encodeURIComponent(id)}`); }
  catch (e) { if (alive()) { show(h("h1", {}, "Influencer " + id), h("p", {}, e.message)); notice(e.message); } return; }
  if (!alive()) return;
  notice("");
  const why = h("div", { id: "explain" });
  const similar = h("div", { id: "similar" }, h("p", { class: "loading" }, "Loading similar accounts…"));
  show(h("div", { class: "card account", id: "account" }, accountHeader(info, compareButton(info, brand)),
         h("div", { class: "grid2" }, captionsBlock(info),
           h("div", {}, h("h3", {}, "Past partners"), (info.partners || []).length
             ? h("div", { class: "chips" }, info.partners.map((p) => h("a", { class: "chip", href: "#/brand/" + encodeURIComponent(p) }, p)))
             : h("div", { class: "empty small" }, "none in the data")))),
       h("div", { class: "card" }, h("h2", {}, "What it posts and who follows it"), panelsBlock(info)),
       why, similar);
  if (brand) {
    try {
      const ex = await api(`/brands/${encodeURIComponent(brand)}/explain/${encodeURIComponent(id)}`);
      why.replaceChildren(h("div", { class: "card" }, h("h2", {}, `Why for @${ex.brand.handle || ex.brand.id}`),
        h("p", {}, `Score ${fmtNum(ex.score)}, rank ${ex.rank} among all candidates (no filter).`),
        partBars(ex.views, "no per-view split"),
        (ex.evidence && ex.evidence.shared_attributes || []).length
          ? h("p", {}, "Shared attributes: ", h("span", { class: "chips" }, ex.evidence.shared_attributes.map((a) => h("span", { class: "chip" }, a)))) : null));
    } catch (e) { why.replaceChildren(h("p", { class: "muted" }, e.message)); }
  }
  try {
    const sim = await api(`/influencers/${encodeURIComponent(id)}/similar` + qs({ k: 5, min_followers: 0 }));
    similar.replaceChildren(h("div", { class: "card" }, h("h2", {}, "Similar influencers"),
      sim.recommendations.length ? h("ol", {}, sim.recommendations.map((r) => h("li", {}, accLink(r.influencer, r.handle, brand),
        h("span", { class: "muted small" }, `  similarity ${fmtNum(r.score)} · ${fmtInt(r.followers)} followers`))))
        : h("p", { class: "empty" }, "none")));
  } catch (e) { similar.replaceChildren(h("p", { class: "muted" }, e.message)); }
}

async function comparePage(a, b) {
  const ids = a && b ? [a, b] : state.compare.map((c) => c.id);
  if (ids.length < 2) {
    show(h("h1", {}, "Compare two influencers"), h("div", { class: "card" },
      h("p", {}, "Select two influencers in a recommendation list (the checkboxes) or use \"Add to comparison\" on two account pages."),
      ids.length ? h("p", {}, "Selected: ", accLink(ids[0], state.compare[0].handle)) : null));
    return;
  }
  show(h("p", { class: "loading" }, "Loading…"));
  let infos;
  const alive = navToken();
  try { infos = await Promise.all(ids.map((i) => api(`/influencers/${encodeURIComponent(i)}`))); }
  catch (e) { if (alive()) { show(h("h1", {}, "Compare"), h("p", {}, e.message)); notice(e.message); } return; }
  notice("");
  const brand = state.compareBrand;
  let explains = [null, null];
  if (brand) {
    try { explains = await Promise.all(ids.map((i) => api(`/brands/${encodeURIComponent(brand)}/explain/${encodeURIComponent(i)}`))); }
    catch (e) { explains = [null, null]; }
  }
  if (!alive()) return;
  const shared = (infos[0].attributes || []).filter((x) => (infos[1].attributes || []).includes(x));
  const column = (info, ex) => h("div", { class: "card compare-col", "data-id": info.id },
    accountHeader(info, h("a", { href: "#/influencer/" + encodeURIComponent(info.id) + (brand ? "?brand=" + encodeURIComponent(brand) : "") }, "account page")),
    ex ? h("div", {}, h("h3", {}, `For @${ex.brand.handle || ex.brand.id}: score ${fmtNum(ex.score)}, rank ${ex.rank}`),
      partBars(ex.views)) : null,
    captionsBlock(info),
    PANELS.map(([name, title]) => h("div", { "data-view": name }, h("h3", {}, title),
      barList((info.top || {})[name] || [], { empty: "not available", cls: conceptClass }))));
  show(h("div", { class: "row" }, h("h1", { class: "grow" }, "Side by side"),
         h("button", { class: "ghost", onclick: () => { state.compare = []; saveLists(); location.hash = "#/"; } }, "Clear comparison")),
       shared.length ? h("p", {}, "Shared attributes: ", h("span", { class: "chips" }, shared.map((s) => h("span", { class: "chip" }, s)))) : null,
       h("div", { class: "grid2", id: "compare" }, column(infos[0], explains[0]), column(infos[1], explains[1])));
}

function newBrandPage() {
  const cats = (state.meta && state.meta.categories) || [];
  const limits = (state.meta && state.meta.limits) || {};
  const out = h("div", { id: "new-results" });
  const form = h("form", { class: "card", id: "new-brand" },
    h("div", { class: "row" },
      h("label", { class: "grow" }, "Brand name", h("input", { type: "text", name: "name", required: true, maxlength: 100, placeholder: "e.g. Green Bowl Café" })),
      h("label", {}, "Category", h("select", { name: "category" }, h("option", { value: "" }, "unknown"), cats.map((c) => h("option", { value: c }, c)))),
      h("label", {}, "Results", h("input", { type: "number", name: "k", min: 1, max: limits.max_k || 500, value: 20 }))),
    h("label", {}, "Bio", h("textarea", { name: "bio", rows: 2, maxlength: limits.max_bio_chars || 2000, placeholder: "What the brand says about itself" })),
    h("label", {}, "Captions of recent posts (one per line)", h("textarea", { name: "captions", rows: 8, placeholder: "Our new matcha latte is here…" })),
    h("label", {}, `Images (optional, up to ${limits.max_images || 32}; JPEG, PNG, WebP or GIF)`,
      h("input", { type: "file", name: "images", multiple: true, accept: "image/jpeg,image/png,image/webp,image/gif" })),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "new-submit" }, "Recommend influencers")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const src = new FormData(form);
    const fd = new FormData();
    fd.set("name", src.get("name") || "");
    if (src.get("category")) fd.set("category", src.get("category"));
    fd.set("bio", src.get("bio") || "");
    fd.set("k", src.get("k") || "20");
    for (const line of String(src.get("captions") || "").split("\n")) if (line.trim()) fd.append("captions", line.trim());
    for (const f of form.querySelector("input[type=file]").files) fd.append("images", f, f.name);
    out.replaceChildren(h("p", { class: "loading" }, "Featurizing the profile and ranking…"));
    try {
      const data = await api("/recommendations", { method: "POST", body: fd });
      notice("");
      out.replaceChildren(resultsBlock(data, data.brand.id));
    } catch (e) {
      out.replaceChildren(h("div", { class: "card" }, h("p", { class: "error", id: "new-error" }, `Could not rank (${e.status}): ${e.message}`)));
    }
  });
  show(h("h1", {}, "A new brand"), h("p", { class: "muted" },
    "Paste what the brand posts and says; brandmatch featurizes it like the accounts it knows and ranks the micro-influencers."), form, out);
}

function shortlistPage() {
  const rows = state.shortlist;
  const parts = [...new Set(rows.flatMap((r) => Object.keys(r.views || {})))];
  show(h("div", { class: "row" }, h("h1", { class: "grow" }, "Shortlist"),
         h("button", { id: "export-csv", disabled: !rows.length, onclick: () => downloadCsv(rows, "brandmatch-shortlist.csv") }, "Export CSV"),
         h("button", { class: "ghost", disabled: !rows.length, onclick: () => { state.shortlist = []; saveLists(); shortlistPage(); } }, "Clear")),
       rows.length ? h("table", { class: "recs card", id: "shortlist" },
         h("thead", {}, h("tr", {}, ["brand", "#", "influencer", "followers", "engagement", "score", ...parts.map((p) => VIEW_SHORT[p] || p), ""].map((t) => h("th", {}, t)))),
         h("tbody", {}, rows.map((r, i) => h("tr", { "data-id": r.influencer },
           h("td", {}, h("a", { href: "#/brand/" + encodeURIComponent(r.brand) }, r.brand)), h("td", { class: "num" }, String(r.rank)),
           h("td", {}, accLink(r.influencer, r.handle, r.brand)), h("td", { class: "num" }, fmtInt(r.followers)),
           h("td", { class: "num" }, fmtPct(r.engagement_rate)), h("td", { class: "num" }, fmtNum(r.score)),
           parts.map((p) => h("td", { class: "num" }, fmtNum((r.views || {})[p]))),
           h("td", {}, h("button", { class: "ghost", onclick: () => { state.shortlist.splice(i, 1); saveLists(); shortlistPage(); } }, "remove"))))))
         : h("div", { class: "card empty" }, "The shortlist is empty: add influencers from a brand's recommendations (☆ shortlist)."));
}

// ---------------------------------------------------------------- CSV (client-side)

function csvCell(v) {
  if (v === null || v === undefined) return "";
  let s = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = "'" + s; // no formulas in spreadsheets
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

function toCsv(rows) {
  const parts = [...new Set(rows.flatMap((r) => Object.keys(r.views || {})))].sort((a, b) => VIEW_ORDER.indexOf(a) - VIEW_ORDER.indexOf(b));
  const head = ["brand", "rank", "influencer", "handle", "score", "followers", "engagement_rate", "categories", ...parts.map((p) => "view_" + p)];
  const lines = [head.join(",")];
  for (const r of rows) {
    lines.push([r.brand, r.rank, r.influencer, r.handle, r.score, r.followers, r.engagement_rate, r.categories,
                ...parts.map((p) => (r.views || {})[p])].map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

function downloadCsv(rows, filename) {
  const blob = new Blob([toCsv(rows)], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, style: "display:none" });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 1000);
}

// ---------------------------------------------------------------- router

let navCount = 0;
// true while the page that asked is still the one on screen (a slow answer must not replace a newer page)
function navToken() { const mine = navCount; return () => mine === navCount; }

async function route() {
  navCount += 1;
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  const params = new URLSearchParams(query || "");
  const seg = path.split("/").filter(Boolean).map(decodeURIComponent);
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active",
    a.dataset.nav === (seg[0] === "brand" || !seg[0] ? "brands" : seg[0] === "influencer" ? "influencers" : seg[0])));
  window.scrollTo(0, 0);
  if (!seg.length) return searchPage("brands", params.get("q"));
  if (seg[0] === "influencers") return searchPage("influencers", params.get("q"));
  if (seg[0] === "brand" && seg[1]) return brandPage(seg[1], params);
  if (seg[0] === "influencer" && seg[1]) return accountPage(seg[1], params);
  if (seg[0] === "compare") return comparePage(seg[1], seg[2]);
  if (seg[0] === "new") return newBrandPage();
  if (seg[0] === "shortlist") return shortlistPage();
  show(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to brand search")));
}

async function start() {
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = document.getElementById("token-input").value.trim();
    sessionStorage.setItem("bm-token", state.token);
    document.getElementById("token-form").hidden = true;
    loadMeta().then(route);
  });
  saveLists();
  window.addEventListener("hashchange", route);
  await loadMeta();
  await route();
}

async function loadMeta() {
  try {
    state.meta = await api("/version");
    document.getElementById("meta").textContent = `model ${state.meta.model || "?"} · data ${state.meta.dataset || "?"} · v${state.meta.brandmatch}`;
    notice("");
  } catch (e) { notice(e.message); }
}

start();
