"""Typed SQLAlchemy models, one module per aggregate. Importing this package registers them all."""
from dashboard.models.campaign import Campaign
from dashboard.models.carrier import Bind, BindStatus, Route
from dashboard.models.contacts import Contact, ContactList, ConsentEvent, ListMembership, SenderId
from dashboard.models.message import DeliveryReceipt, InboundMessage, Message, MessageEvent, MessagePart
from dashboard.models.user import Role, User

__all__ = [
    "Bind", "BindStatus", "Campaign", "ConsentEvent", "Contact", "ContactList", "DeliveryReceipt",
    "InboundMessage", "ListMembership", "Message", "MessageEvent", "MessagePart", "Role", "Route",
    "SenderId", "User",
]
