//! The kill switch's SSM adapter: the String parameter `/alchemiser/<stage>/trading-halt`
//! (team plan), read with GetParameter. Its value's meaning lives in the trading crate
//! ([`HaltState::from_json`]); this file only knows how to fetch it.

use alchemiser_trading::{HaltError, HaltState, TradingHalt};
use async_trait::async_trait;

/// The stage's halt switch in SSM Parameter Store.
#[derive(Debug, Clone)]
pub struct SsmTradingHalt {
    client: aws_sdk_ssm::Client,
    name: String,
}

impl SsmTradingHalt {
    /// The switch held by the parameter `name`.
    pub fn new(client: aws_sdk_ssm::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }
}

#[async_trait]
impl TradingHalt for SsmTradingHalt {
    async fn state(&self) -> Result<HaltState, HaltError> {
        let answer = self.client.get_parameter().name(&self.name).send().await;
        match answer {
            Ok(output) => match output.parameter.and_then(|p| p.value) {
                Some(value) => HaltState::from_json(&value),
                None => Err(HaltError::Invalid {
                    value: String::new(),
                    why: format!("the parameter {} has no value", self.name),
                }),
            },
            // A switch that is gone is not a switch that says "trade": fail closed.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                Err(HaltError::Invalid {
                    value: String::new(),
                    why: format!(
                        "the parameter {} does not exist (deploy the stage)",
                        self.name
                    ),
                })
            }
            Err(error) => Err(HaltError::Unavailable(format!(
                "{}: {}",
                self.name,
                aws_sdk_ssm::error::DisplayErrorContext(&error)
            ))),
        }
    }
}
