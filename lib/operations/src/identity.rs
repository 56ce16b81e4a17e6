//! Who is running an operator command: what an audit note records.

use aws_config::SdkConfig;

use crate::error::OperationsError;

/// The caller's AWS identity (its ARN), from STS GetCallerIdentity (which needs no permission).
pub async fn caller_identity(sdk: &SdkConfig) -> Result<String, OperationsError> {
    let output = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| {
            OperationsError::aws(
                "GetCallerIdentity",
                &error,
                "The command records who ran it and cannot tell: check your credentials",
            )
        })?;
    Ok(output
        .arn
        .unwrap_or_else(|| "an identity without an ARN".into()))
}
