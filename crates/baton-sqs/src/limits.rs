//! SQS limits Baton must never push a user's send over.

use std::collections::HashMap;

use aws_sdk_sqs::types::MessageAttributeValue;

/// Message attributes SQS accepts per message.
pub(crate) const MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// The largest message (body and attributes) and the largest batch request SQS accepts.
pub(crate) const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The bytes a message counts against the size limit: body, plus each attribute's name, data
/// type and value.
pub(crate) fn message_size(
    body: Option<&str>,
    attributes: Option<&HashMap<String, MessageAttributeValue>>,
) -> usize {
    let attributes: usize = attributes
        .into_iter()
        .flatten()
        .map(|(name, value)| name.len() + attribute_size(value))
        .sum();
    body.map_or(0, str::len) + attributes
}

fn attribute_size(value: &MessageAttributeValue) -> usize {
    let lists: usize = value
        .string_list_values()
        .iter()
        .map(String::len)
        .sum::<usize>()
        + value
            .binary_list_values()
            .iter()
            .map(|b| b.as_ref().len())
            .sum::<usize>();
    value.data_type().len()
        + value.string_value().map_or(0, str::len)
        + value.binary_value().map_or(0, |b| b.as_ref().len())
        + lists
}
