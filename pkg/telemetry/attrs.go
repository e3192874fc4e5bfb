package telemetry

import "go.opentelemetry.io/otel/attribute"

// Attribute keys: the OTel messaging conventions, plus extsync's own.
const (
	MessagingSystem        = attribute.Key("messaging.system")
	MessagingOperationName = attribute.Key("messaging.operation.name")
	MessagingOperationType = attribute.Key("messaging.operation.type")
	MessagingDestination   = attribute.Key("messaging.destination.name")
	MessagingConsumerGroup = attribute.Key("messaging.consumer.group.name")
	MessagingMessageID     = attribute.Key("messaging.message.id")
	ErrorType              = attribute.Key("error.type")

	Connector = attribute.Key("extsync.connector")
	Attempt   = attribute.Key("extsync.attempt")
	Outcome   = attribute.Key("extsync.outcome")
)

// SystemNATS is messaging.system for every extsync span.
var SystemNATS = MessagingSystem.String("nats")
