"""GET /campaigns and GET /campaigns/{id}: progress and report figures, read-only."""

from __future__ import annotations

from dashboard.api import schemas as s
from dashboard.api.core import operation
from dashboard.api.messages import page_of
from dashboard.api.problems import Problem
from dashboard.extensions import db
from dashboard.models import ApiKey, Campaign
from dashboard.services import campaigns, reports


def campaign_out(campaign: Campaign) -> dict:
    progress = campaigns.progress(campaign)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "kind": campaign.kind,
        "list_id": campaign.list_id,
        "sender": campaign.sender.value,
        "scheduled_at": campaign.scheduled_at,
        "created_at": campaign.created_at,
        "launched_at": campaign.launched_at,
        "completed_at": campaign.completed_at,
        "progress": {
            "audience": progress.audience,
            "materialised": progress.materialised,
            "queued": progress.queued,
            "submitted": progress.submitted,
            "delivered": progress.delivered,
            "failed": progress.failed,
            "skipped": progress.skipped,
            "cancelled": progress.cancelled,
            "percent_done": progress.percent_done,
            "delivery_rate": progress.delivery_rate,
        },
    }


@operation(
    "GET",
    "/campaigns",
    summary="Campaigns, newest first",
    scope="read",
    tag="Campaigns",
    query=s.Page,
    responses={200: s.CampaignList},
)
def list_campaigns(key: ApiKey, query: s.Page):
    rows, next_cursor = page_of(Campaign, [], query.cursor, query.limit)
    return 200, {"data": [campaign_out(c) for c in rows], "next_cursor": next_cursor}


@operation(
    "GET",
    "/campaigns/<anyint:campaign_id>",
    summary="A campaign's progress and report",
    scope="read",
    tag="Campaigns",
    responses={200: s.CampaignDetail},
    problems=(404,),
)
def get_campaign(key: ApiKey, campaign_id: int):
    """Progress, and the report's figures: by status, parts, delivered %, cost per currency at the
    prices recorded when the parts went, failures by reason."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise Problem("not-found", f"no campaign {campaign_id}")
    report = reports.campaign_report(campaign)
    return 200, {
        **campaign_out(campaign),
        "report": {
            "by_status": report.by_status,
            "segments": report.segments,
            "parts_submitted": report.parts_submitted,
            "delivered_pct": report.delivered_pct,
            "cost": [
                {"amount": str(amount), "currency": currency}
                for currency, amount in report.cost.items()
            ],
            "failures": [
                {"status": f.status, "error": f.error, "reason": f.reason, "count": f.count}
                for f in report.failures
            ],
        },
    }
