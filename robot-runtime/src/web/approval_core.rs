//! The web's door to the approval core (`crate::approval`): the same
//! types, and calls with the service's approval settings and delivery
//! channel filled in, so handlers only name the case and the official.

use super::Web;
use crate::approval::Channel;
use crate::store::CaseId;

pub use crate::approval::{
    Amendment, ApprovalError, ApprovalResult, ApprovalSettings, DecisionRequest, Official, ReplyChannel, Role,
};

fn channel(web: &Web) -> Channel<'static> {
    Channel(web.ctx.settings.outbox.channel())
}

pub async fn approve(web: &Web, case: CaseId, by: &Official) -> Result<ApprovalResult, ApprovalError> {
    crate::approval::approve(&web.ctx.store, &web.ctx.settings.approval, &channel(web), case, by).await
}

pub async fn decide(
    web: &Web,
    case: CaseId,
    by: &Official,
    req: &DecisionRequest,
) -> Result<ApprovalResult, ApprovalError> {
    crate::approval::decide(&web.ctx.store, &web.ctx.settings.approval, &channel(web), case, by, req).await
}

pub async fn send_kommunicering(web: &Web, case: CaseId, by: &Official, own: &str) -> Result<(), ApprovalError> {
    crate::approval::send_kommunicering(&web.ctx.store, &web.ctx.settings.approval, &channel(web), case, by, own).await
}

pub async fn record_reply(
    web: &Web,
    case: CaseId,
    by: &Official,
    channel: ReplyChannel,
    reply: &str,
) -> Result<(), ApprovalError> {
    let actor = format!("user:{}", by.username);
    crate::approval::record_reply(&web.ctx.store, case, &actor, Some(by), channel, reply).await
}

pub async fn amend(web: &Web, case: CaseId, by: &Official, a: &Amendment) -> Result<ApprovalResult, ApprovalError> {
    crate::approval::amend(&web.ctx.store, &web.ctx.settings.approval, &channel(web), case, by, a).await
}

pub async fn return_to_manual(web: &Web, case: CaseId, by: &Official, reason: &str) -> Result<(), ApprovalError> {
    crate::approval::return_to_manual(&web.ctx.store, case, by, reason).await
}

pub async fn assign(web: &Web, case: CaseId, by: &Official, to: Option<i64>) -> Result<(), ApprovalError> {
    crate::approval::assign(&web.ctx.store, case, by, to).await
}

pub async fn comment(web: &Web, case: CaseId, by: &Official, text: &str) -> Result<(), ApprovalError> {
    crate::approval::comment(&web.ctx.store, case, by, text).await
}

pub async fn letter_html(web: &Web, case: CaseId) -> Result<String, ApprovalError> {
    crate::approval::letter_html(&web.ctx.store, &web.ctx.settings.approval, case).await
}

pub async fn letter_pdf(web: &Web, case: CaseId) -> Result<Vec<u8>, ApprovalError> {
    crate::approval::letter_pdf(&web.ctx.store, &web.ctx.settings.approval, case).await
}

/// What deciding would do, without doing it (the confirmation step).
pub async fn plan(
    web: &Web,
    case: CaseId,
    by: &Official,
    req: &DecisionRequest,
) -> Result<crate::approval::Planned, ApprovalError> {
    crate::approval::plan(&web.ctx.store, &web.ctx.settings.approval, case, by, req).await
}
