"""Typed SQLAlchemy models, one module per aggregate. Importing this package registers them all."""
from dashboard.models.alert import Alert, AlertNotification, AlertRule, LatencyTargetRow, SpendBudget
from dashboard.models.api import (ApiKey, FraudAlert, IdempotencyRecord, Verification, VerificationCheck,
                                  WebhookAttempt, WebhookEvent)
from dashboard.models.audit import AuditChainHead, AuditLog
from dashboard.models.campaign import Campaign
from dashboard.models.carrier import Bind, BindStatus, Route
from dashboard.models.contacts import (BrandOptOut, ConsentChainHead, ConsentEvent, Contact, ContactList,
                                       ListMembership, SenderId, SenderRegistration, SignupRequest)
from dashboard.models.imports import ContactImport, ImportedNumber, ImportIssue
from dashboard.models.message import DeliveryReceipt, InboundMessage, Message, MessageEvent, MessagePart
from dashboard.models.rollup import RollupCursor, failure_rollup, spend_rollup, traffic_rollup
from dashboard.models.template import MessageTemplate
from dashboard.models.user import Role, User
from dashboard.models.worker import SenderWorker, WorkerLease

__all__ = [
    "Alert", "AlertNotification", "AlertRule", "LatencyTargetRow", "RollupCursor", "SpendBudget",
    "failure_rollup", "spend_rollup", "traffic_rollup",
    "ApiKey", "FraudAlert", "IdempotencyRecord", "Verification", "VerificationCheck", "WebhookAttempt", "WebhookEvent",
    "AuditChainHead", "AuditLog", "Bind", "BindStatus", "BrandOptOut", "Campaign", "ConsentChainHead", "ConsentEvent", "Contact",
    "ContactImport", "ContactList", "DeliveryReceipt", "ImportedNumber", "ImportIssue", "InboundMessage", "ListMembership",
    "Message", "MessageEvent", "MessagePart", "MessageTemplate", "Role", "Route", "SenderId", "SenderRegistration",
    "SenderWorker", "WorkerLease", "SignupRequest", "User",
]
