#include "review_controls.h"

#include "html_page.h"

namespace medpipe::report {
namespace {

// Fills each .signoff block from GET /api/review?study=ID and posts the reviewer's decisions; every
// text from the server goes in by textContent. Tests read body[data-signoff] and .signoff[data-state].
constexpr const char* kSignoffScript = R"JS(
(() => {
  'use strict';
  const blocks = [...document.querySelectorAll('.signoff')];
  if (!blocks.length || !location.protocol.startsWith('http')) return;
  const study = blocks[0].dataset.study;
  const reviewerField = document.querySelector('.signoff-reviewer');
  let review = null;
  const render = () => {
    for (const block of blocks) {
      const key = block.dataset.analysis;
      const target = key ? review.analyses[key] : review;
      if (!target) continue;
      block.hidden = false;
      block.dataset.state = target.state;
      block.dataset.sha256 = target.sha256;
      const state = block.querySelector('.signoff-state');
      state.textContent = target.state;
      state.className = 'signoff-state review-' + target.state;
      const entries = review.history.filter(entry => entry.analysis === key).map(entry => {
        const item = document.createElement('li');
        item.textContent = `${entry.time} ${entry.reviewer}: ${entry.decision}` + (entry.comment ? ` \u2014 ${entry.comment}` : '') +
            (entry.sha256 === target.sha256 ? '' : ' (of an earlier version of this result)');
        return item;
      });
      block.querySelector('.signoff-history').replaceChildren(...entries);
    }
  };
  const post = async (block, decision) => {
    const message = block.querySelector('.signoff-message');
    const comment = block.querySelector('.signoff-comment');
    const reviewer = reviewerField.value.trim();
    if (!reviewer) {
      message.textContent = 'Your name first (reviewer, at the top of the page).';
      reviewerField.focus();
      return;
    }
    localStorage.setItem('medpipe-reviewer', reviewer);
    const response = await fetch('/api/review', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-Medpipe-Review': '1'},
      body: JSON.stringify({study_id: study, analysis: block.dataset.analysis, decision, reviewer,
                            comment: comment.value, sha256: block.dataset.sha256}),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      message.textContent = answer.error || `refused (${response.status})`;
      return;
    }
    message.textContent = `${decision} recorded at ${answer.entry.time}`;
    comment.value = '';
    review = answer.review;
    render();
  };
  for (const block of blocks)
    for (const button of block.querySelectorAll('.signoff-button'))
      button.addEventListener('click', () => post(block, button.dataset.decision).catch(error => {
        block.querySelector('.signoff-message').textContent = 'not recorded: ' + error.message;
      }));
  reviewerField.value = localStorage.getItem('medpipe-reviewer') || '';
  fetch('/api/review?study=' + encodeURIComponent(study), {credentials: 'same-origin'})
    .then(response => (response.ok ? response.json() : null))
    .then(answer => {
      if (!answer) throw new Error('no review server');
      review = answer.review;
      render();
      document.body.dataset.signoff = 'ready';
    })
    .catch(() => { document.body.dataset.signoff = 'unavailable'; });
})();
)JS";

constexpr const char* kBatchScript = R"JS(
(() => {
  'use strict';
  const table = document.getElementById('studies');
  const filters = document.getElementById('filters');
  if (!table || !filters) return;
  const rows = [...table.tBodies[0].rows];
  const model = document.getElementById('filter-model');
  const matches = (row, show) => (show === 'all' || (show === 'failed' && row.dataset.status === 'failed') ||
      (show === 'flagged' && row.dataset.flagged === 'true') || (show === 'unreviewed' && row.dataset.review === 'unreviewed')) &&
      (!model.value || JSON.parse(row.dataset.models).includes(model.value));
  const apply = () => {
    const show = filters.querySelector('input[name=show]:checked').value;
    let shown = 0;
    for (const row of rows) {
      row.hidden = !matches(row, show);
      shown += row.hidden ? 0 : 1;
    }
    for (const count of filters.querySelectorAll('.filter-count'))
      count.textContent = rows.filter(row => matches(row, count.dataset.show)).length;
    document.getElementById('shown').textContent = `showing ${shown} of ${rows.length}`;
  };
  filters.addEventListener('change', apply);
  apply();
  if (!location.protocol.startsWith('http')) return;
  fetch('/api/review', {credentials: 'same-origin'})
    .then(response => (response.ok ? response.json() : null))
    .then(answer => {
      if (!answer) throw new Error('no review server');
      for (const row of rows) {
        const review = answer.studies[row.dataset.study];
        if (!review || !review.state) continue;
        row.dataset.review = review.state;
        const cell = row.querySelector('.review-state');
        cell.textContent = review.state;
        cell.dataset.sort = review.state;
        cell.className = 'review-state review-' + review.state;
      }
      document.getElementById('summary-unreviewed').textContent = rows.filter(row => row.dataset.review === 'unreviewed').length;
      document.getElementById('review-note').textContent = 'Review states as the server has them now.';
      apply();
      document.body.dataset.signoff = 'ready';
    })
    .catch(() => { document.body.dataset.signoff = 'unavailable'; });
})();
)JS";

}  // namespace

std::string SignoffBlock(const std::string& study_id, const std::string& analysis) {
  std::string html = "<section class=\"signoff\" hidden data-study=\"" + Escape(study_id) + "\" data-analysis=\"" +
                     Escape(analysis) + "\"><b>Sign-off" + (analysis.empty() ? " of the study" : "") +
                     ":</b> <span class=\"signoff-state\"></span> ";
  if (analysis.empty())
    html += "<label>reviewer <input type=\"text\" class=\"signoff-reviewer\" maxlength=\"128\" autocomplete=\"name\"></label> ";
  html += "<br><textarea class=\"signoff-comment\" rows=\"2\" cols=\"60\" maxlength=\"4000\" placeholder=\"comment\" "
          "aria-label=\"comment\"></textarea><br>";
  for (const char* decision : {"accept", "reject", "comment"})
    html += std::string("<button type=\"button\" class=\"signoff-button\" data-decision=\"") + decision + "\">" + decision +
            "</button> ";
  return html + "<output class=\"signoff-message\"></output><ol class=\"signoff-history\"></ol></section>";
}

const std::string& SignoffScript() {
  static const std::string script = kSignoffScript;
  return script;
}

const std::string& BatchScript() {
  static const std::string script = kBatchScript;
  return script;
}

}  // namespace medpipe::report
