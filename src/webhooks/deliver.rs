//! The delivery loop (docs/DESIGN.md "Webhook delivery").
